"""The layer order of ``labconsole``'s packages, bottom to top: the one place it is written down.

A module may import from its own package, from any package in a lower layer, and from a package of its
own layer only where ``SIBLING_IMPORTS`` lists the pair. tests/test_layers.py enforces this (and that
there are no import cycles) on every module; the design document cites this file rather than copying it.
Data only: nothing here imports anything.
"""

from __future__ import annotations

# Bottom → top. Names are the packages (or top-level modules) directly under labconsole/.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "layers"),  # the exception types every layer raises; this file
    ("core",),  # lab.toml config, parameter lines, dedupe, Usage: leaf helpers both sides need
    ("events",),  # the session log: append, read, follow, replay, audit
    ("skills", "gpu", "runs", "agents", "profile"),  # what does the work: agents, runs, GPUs, profiles
    ("lab",),  # the Lab service: state, reducer, gate, orchestrator, commands
    ("publish", "evals"),  # built on a lab's sessions
    ("demo", "tui", "cli"),  # what a person runs
    ("__main__",),  # `python -m labconsole`
)

# Same-layer imports that are allowed, as (importer, imported). Every other same-layer edge is a violation.
SIBLING_IMPORTS: frozenset[tuple[str, str]] = frozenset(
    {
        ("agents", "skills"),  # a role's prompt carries the skills installed for it
        ("runs", "gpu"),  # a run leases GPUs and records their telemetry
        ("cli", "tui"),  # `labconsole run|attach|replay|demo` open the console
        ("cli", "demo"),  # `labconsole demo` builds the demo lab
    }
)


def layer_of(package: str) -> int:
    """The index of ``package``'s layer in :data:`LAYERS`; the package root (``labconsole/__init__``) is 0."""
    if package == "":
        return 0
    for index, names in enumerate(LAYERS):
        if package in names:
            return index
    raise KeyError(f"labconsole.{package} is in no layer: add it to LAYERS in labconsole/layers.py")
