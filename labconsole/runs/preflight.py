"""Checks that the executor ``[executor] kind`` names can run anything, before any agent starts.

A session that starts agents and only finds out at the first measurement that the cluster is down or
the token is missing wastes the agents' work (and money). :func:`preflight` runs first in the
orchestrator and turns each of those into one line naming what to fix (a :class:`LabError`).
"""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path
from typing import Any

from labconsole.core.config import EXECUTORS, ExecutorConfig, LabConfig
from labconsole.errors import LabError

CONNECT_TIMEOUT_S = 3.0


def preflight(config: LabConfig) -> None:
    """Raise one :class:`LabError` line if the configured executor cannot run measurements now."""
    ex = config.executor
    if ex.kind == "local":
        return
    if ex.kind == "ray":
        _ray_importable()
        check_ray_address(ex.address)
    elif ex.kind == "hf-jobs":
        hf_jobs_namespace(ex)
    else:  # the config parser refuses these; a hand-built config may not have gone through it
        raise LabError(f"[executor] kind is {ex.kind!r}; allowed: {', '.join(repr(k) for k in EXECUTORS)}")


# --- ray ------------------------------------------------------------------------------------------


def _ray_importable() -> None:
    try:
        import ray  # noqa: F401
    except ImportError:
        raise LabError("[executor] kind = \"ray\" needs the ray package: pip install 'labconsole[ray]'") from None


def ray_current_cluster() -> str:
    """The head's address that ``ray start`` on this machine wrote down, or ''."""
    temp = os.environ.get("RAY_TMPDIR") or os.path.join(tempfile.gettempdir(), "ray")
    try:
        return Path(temp, "ray_current_cluster").read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def check_ray_address(address: str) -> str:
    """The address to connect to, after checking that something listens there. Ray's own connect retries
    for about a minute on a dead address; a refused TCP connection says the same in milliseconds."""
    resolved = address
    if address == "auto":
        resolved = os.environ.get("RAY_ADDRESS", "") or ray_current_cluster()
        if not resolved:
            raise LabError(
                '[executor] address = "auto" but no Ray cluster runs here (no RAY_ADDRESS, nothing from '
                '`ray start --head`); start one or set address = "HOST:PORT"'
            )
    hostport = resolved.removeprefix("ray://")
    host, sep, port = hostport.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise LabError(f"[executor] address is {resolved!r}; expected 'auto', 'HOST:PORT' or 'ray://HOST:PORT'")
    if resolved.startswith("ray://"):
        try:
            import grpc  # noqa: F401  (the Ray Client speaks gRPC; plain `ray` lacks it)
        except ImportError:
            raise LabError(f"[executor] address {resolved!r} needs the Ray Client: pip install 'ray[client]'") from None
    try:
        with socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        raise LabError(
            f"[executor] address {resolved!r}: no Ray cluster answers there "
            f"({exc.strerror or exc}); is `ray start --head` running?"
        ) from None
    return resolved


# --- hugging face jobs ----------------------------------------------------------------------------


def hf_jobs_namespace(ex: ExecutorConfig) -> str:
    """The namespace jobs run under, after checking that a token is there and the Hub accepts it."""
    from huggingface_hub import constants, get_token
    from huggingface_hub.errors import HfHubHTTPError

    token = get_token()
    if not token:
        raise LabError('[executor] kind = "hf-jobs" needs a Hugging Face token: set HF_TOKEN or run `hf auth login`')
    if constants.HF_HUB_OFFLINE:
        raise LabError('[executor] kind = "hf-jobs" needs the Hub, but HF_HUB_OFFLINE is set; unset it to run jobs')
    api = hub_api()
    try:
        name = str(api.whoami()["name"])
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "?"
        raise LabError(
            f"[executor] hf-jobs: {api.endpoint} refused the Hugging Face token (HTTP {status}); set a valid HF_TOKEN"
        ) from None
    except Exception as exc:  # httpx's transport errors, DNS, TLS: the Hub cannot be reached
        raise LabError(
            f"[executor] hf-jobs: cannot reach {api.endpoint} ({type(exc).__name__}); check the network or HF_ENDPOINT"
        ) from None
    return ex.namespace or name


def hub_api() -> Any:
    """An ``HfApi`` for ``HF_ENDPOINT`` as it is now (huggingface_hub reads it once, at import)."""
    from huggingface_hub import HfApi

    return HfApi(endpoint=os.environ.get("HF_ENDPOINT") or None)
