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
    for role in config.agents.values():
        if role.backend in OFFLINE_BACKENDS:
            continue
        try:
            from labconsole.agents.backends.ready import check_backend_ready
        except ImportError:
            raise ConfigError(f"role {role.role} uses backend {role.backend!r}, which this installation "
                              f"does not include; use backend = \"sweep\"") from None
        check_backend_ready(role.role, role.backend, {"model": role.model, **role.options})
