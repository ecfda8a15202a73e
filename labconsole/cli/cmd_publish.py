"""``labconsole publish KERNEL_DIR``: the approved commit of a kernel, assembled for the Hub (and uploaded)."""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

from labconsole.errors import GateError, LabError
from labconsole.events import kinds as K
from labconsole.events.log import session_lock_holder
from labconsole.lab.session import list_sessions, resolve_session
from labconsole.lab.gate import require_person
from labconsole.lab.decisions import default_who
from labconsole.lab.service import Lab
from labconsole.events.signing import TrustStore, load_trust
from labconsole.publish.approval import PublishApproval, find_approval
from labconsole.publish.assemble import assemble, check_loads, kernel_name
from labconsole.publish.upload import hub_token, upload


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("publish", help="publish an approved kernel repository (assemble, check it loads, upload)")
    p.add_argument("kernel_dir", type=Path)
    p.add_argument(
        "--lab", type=Path, default=None, help="the lab whose sessions hold the approval (default: the repo)"
    )
    p.add_argument("--session", default=None, help="look only in this session")
    p.add_argument(
        "--out", type=Path, default=None, help="where to assemble (default: <lab>/dist/kernels/<name>-<sha>)"
    )
    p.add_argument("--repo-id", default=None, help="Hub repository to upload to, e.g. my-org/rmsnorm-h100")
    p.add_argument("--who", default=None, help="your name in the log (default: your user name)")
    p.set_defaults(func=run)


def _git(cwd: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise LabError(f"git {' '.join(args)} failed in {cwd}: {result.stderr.strip()}")
    return result.stdout.strip()


def run(args: argparse.Namespace) -> int:
    require_person()
    kernel_dir = args.kernel_dir.resolve()
    if not kernel_dir.is_dir():
        raise LabError(f"{args.kernel_dir} is not a directory")
    name = kernel_name(kernel_dir)
    repo_root = Path(_git(kernel_dir, "rev-parse", "--show-toplevel"))
    head = _git(repo_root, "rev-parse", "HEAD")
    dirty = _git(repo_root, "status", "--porcelain", "--", str(kernel_dir))
    if dirty:
        raise GateError(
            f"{kernel_dir.relative_to(repo_root)} has uncommitted changes; only an approved commit "
            f"is published: commit them and take them through review"
        )
    lab_root = (args.lab or repo_root).resolve()
    sessions = [resolve_session(lab_root, args.session)] if args.session else list_sessions(lab_root)
    approval = find_approval(sessions, head, _trust(lab_root))
    out = args.out or lab_root / "dist" / "kernels" / f"{name}-{head[:12]}"
    folder = assemble(kernel_dir, approval, out.resolve())
    print(
        f"approved: {approval.hyp_id} in session {approval.session_dir.name} by {approval.who} "
        f"(commit {approval.approved_sha[:12]}, evidence {approval.evidence_hash[:12]})"
    )
    print(f"assembled: {folder}")
    load = check_loads(folder)
    print(f"load check (kernels.get_local_kernel): {'ok — ' if load.loaded else 'not possible here — '}{load.detail}")
    destination = str(folder)
    token = hub_token()
    if args.repo_id and token:
        destination = upload(
            folder, args.repo_id, token, f"{name} at {head[:12]} (evidence {approval.evidence_hash[:12]})"
        )
        print(f"uploaded: {destination}")
    elif args.repo_id:
        print(f"not uploaded: no Hugging Face token (set HF_TOKEN); the folder is ready at {folder}")
    else:
        print(f"not uploaded: pass --repo-id ORG/NAME (with HF_TOKEN set); the folder is ready at {folder}")
    _record(approval, head, destination, load.loaded, args.who or default_who())
    return 0


def _record(approval: PublishApproval, head: str, destination: str, loaded: bool, who: str) -> None:
    """Log publish.completed in the approving session through the Lab service (audit checks it against the
    approval)."""
    if session_lock_holder(approval.session_dir):
        print(f"note: session {approval.session_dir.name} is open in a console; the publish is not logged there")
        return
    Lab.record_publish(
        approval.session_dir,
        who,
        K.PublishCompleted(
            sha=approval.approved_sha,
            evidence_hash=approval.evidence_hash,
            hyp_id=approval.hyp_id,
            published_sha=head,
            destination=destination,
            load_check=loaded,
        ),
    )


def _trust(lab_root: Path) -> TrustStore:
    """The user's trusted keys and the lab's ``[review] trusted_keys`` (when its lab.toml reads)."""
    from labconsole.core.config import load_config

    try:
        return load_trust(load_config(lab_root / "lab.toml").review.trusted_keys)
    except LabError:
        return load_trust()
