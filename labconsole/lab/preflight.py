"""Checks made before any agent starts: every failure is one line naming what to install or set."""

from __future__ import annotations

from labconsole.errors import ConfigError
from labconsole.core.config import LabConfig

OFFLINE_BACKENDS = frozenset({"sweep", "rules"})


def preflight(config: LabConfig) -> None:
    from labconsole.agents.roles import load_roles

    load_roles(config.root)  # a broken agents/<role>.md override fails here, before any agent starts
    if config.resources.gpus_per_run > 0:
        from labconsole.gpu.leases import pool_for_machine

        pool_for_machine(config.resources.gpus_per_run)  # raises with a clear message on a machine without GPUs
    not_ready = []
    for role in config.agents.values():
        if role.backend in OFFLINE_BACKENDS:
            continue
        try:
            from labconsole.agents.backends.ready import probe_backend
        except ImportError:
            raise ConfigError(
                f"role {role.role} uses backend {role.backend!r}, which this installation "
                f'does not include; use backend = "sweep"'
            ) from None
        # The real thing, once (a tiny request / the CLI's --version as the agent will run it): one line a role.
        ready = probe_backend(role.role, role.backend, {"model": role.model, **role.options}, role.model)
        if not ready.ok:
            not_ready.append(ready.line())
    if not_ready:
        raise ConfigError("\n".join(not_ready))
