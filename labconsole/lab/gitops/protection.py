"""Diffs between commits and the protected-file checks (in commits and in a measurement checkout's files)."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from labconsole.lab.gitops.globs import matches_any
from labconsole.lab.gitops.plumbing import GitPlumbing, split_z
from labconsole.lab.gitops.records import DiffStats


# filter=<x> runs a program on checkout/add; merge=<x> one on merge, unless it is a built-in merge.
_DRIVER_RE = re.compile(rb"(?:^|\s)(?:filter=\S+|merge=(?!(?:text|binary|union)(?:\s|$))\S+)")


def _names_driver(attributes: bytes) -> bool:
    return any(_DRIVER_RE.search(line) for line in attributes.splitlines() if not line.lstrip().startswith(b"#"))


class ProtectionOps(GitPlumbing):
    # ------------------------------------------------------------------ diffs and protection

    # Fixed options so the diff text (hashed into evidence) does not depend on user config.
    _DIFF_OPTS = (
        "-c",
        "diff.noprefix=false",
        "-c",
        "diff.mnemonicPrefix=false",
        "-c",
        "core.quotePath=true",
    )

    def diff(self, base: str, sha: str) -> str:
        a, b = self._resolve(base), self._resolve(sha)
        out = self._gitb(*self._DIFF_OPTS, "diff", "--no-color", "--no-ext-diff", "--no-textconv", "--no-renames", a, b)
        return out.decode("utf-8", "replace")

    def diff_stats(self, base: str, sha: str) -> DiffStats:
        a, b = self._resolve(base), self._resolve(sha)
        out = self._gitb("diff", "--numstat", "-z", "--no-renames", "--no-ext-diff", a, b)
        files: list[str] = []
        adds = dels = 0
        for rec in split_z(out):
            added, deleted, path = rec.split("\t", 2)
            files.append(path)
            # Binary files report "-": they count as changed files with no line counts.
            adds += int(added) if added.isdigit() else 0
            dels += int(deleted) if deleted.isdigit() else 0
        return DiffStats(files=files, additions=adds, deletions=dels)

    def _tree_entries(self, sha: str) -> dict[str, tuple[str, str]]:
        """path -> (mode, object id) for every file (blob, symlink, submodule) in the commit."""
        out = self._gitb("ls-tree", "-r", "-z", "--full-tree", sha)
        entries: dict[str, tuple[str, str]] = {}
        for rec in split_z(out):
            meta, _, path = rec.partition("\t")
            mode, _type, oid = meta.split()
            entries[path] = (mode, oid)
        return entries

    def tree(self, sha: str) -> dict[str, tuple[str, str]]:
        """path -> (mode, object id) of every file in a commit: what the change checks compare."""
        return self._tree_entries(self._resolve(sha))

    def protected_changes(self, base: str, sha: str, globs: list[str]) -> list[str]:
        """Protected paths added, deleted, or whose blob id or mode differs between two commits; plus any
        ``.gitattributes`` the candidate changed to name a filter or merge driver (always flagged: a driver
        is a program git would run on checkout/merge; the console's own git never runs it, see guard)."""
        a, b = self._tree_entries(self._resolve(base)), self._tree_entries(self._resolve(sha))
        drivers = [
            p
            for p in b
            if (p == ".gitattributes" or p.endswith("/.gitattributes"))
            and a.get(p) != b.get(p)
            and b[p][0].startswith("100")
            and _names_driver(self._gitb("cat-file", "blob", b[p][1]))
        ]
        if not globs:
            return sorted(drivers)
        # Mode counts too: a regular file swapped for a symlink could keep the same blob bytes.
        return sorted({p for p in set(a) | set(b) if a.get(p) != b.get(p) and matches_any(p, globs)} | set(drivers))

    def verify_checkout(self, dest: Path, sha: str, globs: list[str]) -> list[str]:
        """Protected paths in the checkout's files that differ from ``sha`` (modified, added or deleted).

        Hashes file contents (not git's stat cache), so a run that rewrites a file and
        restores its size and mtime is still caught.
        """
        if not globs:
            return []
        dest = Path(dest)
        with self._lock:
            self._check_own_worktree(dest)
            expected = {p: e for p, e in self._tree_entries(self._resolve(sha)).items() if matches_any(p, globs)}
            changed: set[str] = set()
            to_hash: list[str] = []
            for path, (mode, _oid) in expected.items():
                f = dest / path
                if mode == "160000":  # submodule: its gitlink can't be edited in place by a run
                    continue
                if mode == "120000":
                    if not f.is_symlink():
                        changed.add(path)
                    continue
                if f.is_symlink() or not f.is_file():
                    changed.add(path)  # deleted, or replaced by a directory/symlink
                else:
                    to_hash.append(path)
            for i in range(0, len(to_hash), 200):
                chunk = to_hash[i : i + 200]
                # With path-based filters (autocrlf, LFS) applied, exactly as git would store them.
                oids = self._git("hash-object", "--", *chunk, cwd=dest).splitlines()
                for path, oid in zip(chunk, oids, strict=False):
                    if oid != expected[path][1]:
                        changed.add(path)
            for path in expected:
                if expected[path][0] == "120000" and path not in changed:
                    target = os.readlink(dest / path).encode("utf-8", "surrogateescape")
                    status, out, _ = self._run_hash_bytes(target, dest)
                    if status != 0 or out != expected[path][1]:
                        changed.add(path)
            # New files (untracked, or staged/committed by the run itself) under protected globs.
            present = split_z(self._gitb("ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=dest))
            for path in present:
                if path not in expected and matches_any(path, globs) and (dest / path).exists():
                    changed.add(path)
            return sorted(changed)

    def _run_hash_bytes(self, data: bytes, cwd: Path) -> tuple[int, str, str]:
        """Blob id of raw bytes (for symlink targets), via a temp file outside the checkout."""
        with tempfile.NamedTemporaryFile(delete=False) as tmp:
            tmp.write(data)
        try:
            status, out, err = self._run("hash-object", "--no-filters", tmp.name, cwd=cwd)
        finally:
            os.unlink(tmp.name)
        return status, out.decode().strip(), err
