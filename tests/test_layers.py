"""Imports inside labconsole/ point one way and never go round in a circle.

Every module is parsed with ``ast`` (nothing is imported), and every import it makes — at module level,
inside functions, under ``if TYPE_CHECKING`` — becomes an edge of the graph. The test fails on a cycle
between modules and on an edge that goes up (or sideways) against ``labconsole/layers.py``.

Imports under ``if TYPE_CHECKING`` never run, so they count for the layer order (a type from above is
still an arrow pointing up) but not for cycles (annotations naming each other are how Python types
mutually-referring classes).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import TypeGuard

import pytest

from labconsole.layers import LAYERS, SIBLING_IMPORTS, layer_of

ROOT = Path(__file__).resolve().parents[1] / "labconsole"

# Edges against the layer order that other work in flight is removing (issue 14). Each entry is
# (importer module, imported module); delete it when the edge is gone — the test then keeps it gone.
KNOWN_EXCEPTIONS: frozenset[tuple[str, str]] = frozenset()
# Runtime cycles that other work in flight is removing, as the sorted modules of each cycle.
KNOWN_CYCLES: frozenset[tuple[str, ...]] = frozenset()


@dataclass(frozen=True)
class Edge:
    importer: str
    imported: str
    line: int
    typing_only: bool = False  # under `if TYPE_CHECKING:`

    def where(self) -> str:
        return f"{self.importer}:{self.line} imports {self.imported}"


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules(root: Path = ROOT) -> dict[str, Path]:
    return {module_name(p, root): p for p in sorted(root.rglob("*.py"))}


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of ``name`` that is one of our modules (a name imported from it is not a module)."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> list[Edge]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    package = module if is_package else module.rpartition(".")[0]
    typing_only = {
        id(n)
        for block in ast.walk(tree)
        if _is_type_checking_block(block)
        for stmt in block.body
        for n in ast.walk(stmt)
    }
    edges = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            if node.level:  # relative: from the module's own package, up level - 1
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            # `from pkg import sub` imports the submodule when there is one; else a name from pkg.
            targets = [f"{source}.{alias.name}" for alias in node.names]
        for target in targets:
            if not target.startswith("labconsole"):
                continue
            resolved = _resolve(target, modules)
            if resolved is not None and resolved != module:
                edges.append(Edge(module, resolved, node.lineno, id(node) in typing_only))
    return edges


def _is_type_checking_block(node: ast.AST) -> TypeGuard[ast.If]:
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def import_graph(root: Path = ROOT) -> list[Edge]:
    modules = all_modules(root)
    return [edge for name, path in modules.items() for edge in imports_of(name, path, modules)]


def top_package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def cycles(edges: list[Edge]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    graph: dict[str, set[str]] = {}
    for e in edges:
        if e.typing_only:
            continue
        graph.setdefault(e.importer, set()).add(e.imported)
        graph.setdefault(e.imported, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = counter
                counter += 1
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


def layer_violations(edges: list[Edge]) -> list[Edge]:
    bad = []
    for e in edges:
        src, dst = top_package(e.importer), top_package(e.imported)
        if src == dst or (e.importer, e.imported) in KNOWN_EXCEPTIONS:
            continue
        if layer_of(dst) > layer_of(src) or (layer_of(dst) == layer_of(src) and (src, dst) not in SIBLING_IMPORTS):
            bad.append(e)
    return bad


# --- the checks on labconsole/ ------------------------------------------------------------------------


def test_every_package_has_a_layer() -> None:
    packages = {top_package(m) for m in all_modules()} - {""}
    placed = {name for names in LAYERS for name in names}
    assert packages <= placed, f"add {sorted(packages - placed)} to LAYERS in labconsole/layers.py"


def test_no_import_cycles() -> None:
    found = [c for c in cycles(import_graph()) if tuple(c) not in KNOWN_CYCLES]
    assert not found, "import cycles:\n" + "\n".join(" → ".join(c) for c in found)


def test_imports_follow_the_layer_order() -> None:
    bad = layer_violations(import_graph())
    assert not bad, "imports against labconsole/layers.py:\n" + "\n".join(e.where() for e in bad)


def test_known_exceptions_still_exist() -> None:
    """An exception whose edge is gone must leave the list, so the edge cannot come back unnoticed."""
    edges = import_graph()
    stale = sorted(KNOWN_EXCEPTIONS - {(e.importer, e.imported) for e in edges})
    assert not stale, f"remove from KNOWN_EXCEPTIONS (the import is gone): {stale}"
    gone = sorted(KNOWN_CYCLES - {tuple(c) for c in cycles(edges)})
    assert not gone, f"remove from KNOWN_CYCLES (the cycle is gone): {gone}"


# --- the checker itself, on a small tree, so a broken checker cannot pass silently ---------------------


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    """A ``labconsole`` package of ``files``; every folder on their paths becomes a package (empty ``__init__``)."""
    root = tmp_path / "labconsole"
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        for package in [path.parent, *path.parent.parents]:
            init = package / "__init__.py"
            if package.is_relative_to(root) and not init.exists():
                init.write_text("")
    return root


# lab/a and lab/b import each other, b only inside a function (still a cycle); lab/d imports only for typing.
CYCLE_TREE = {
    "lab/a.py": "from labconsole.lab import b\n",
    "lab/b.py": "def f():\n    from labconsole.lab.a import x\n",
    "lab/c.py": "from . import a\n",
    # a cycle through a typing-only import is not one
    "lab/d.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from labconsole.lab.c import C\n",
    "lab/e.py": "from labconsole.lab.d import D\nimport labconsole.lab.c\n",
}


def test_checker_finds_a_cycle_through_a_function_level_import(tmp_path: Path) -> None:
    root = _tree(tmp_path, CYCLE_TREE)
    assert cycles(import_graph(root)) == [["labconsole.lab.a", "labconsole.lab.b"]]
    assert any(e.typing_only and e.importer == "labconsole.lab.d" for e in import_graph(root))


# events/log imports up into lab (relatively), and lab/state imports it back.
UPWARD_TREE = {
    "events/log.py": "from ..lab.state import S\nfrom .kinds import K\n",
    "events/kinds.py": "",
    "lab/state.py": "from labconsole.events import log\n",
}


def test_checker_finds_an_upward_import_and_resolves_relative_ones(tmp_path: Path) -> None:
    root = _tree(tmp_path, UPWARD_TREE)
    edges = import_graph(root)
    assert {(e.importer, e.imported) for e in edges} == {
        ("labconsole.events.log", "labconsole.lab.state"),
        ("labconsole.events.log", "labconsole.events.kinds"),
        ("labconsole.lab.state", "labconsole.events.log"),
    }
    assert [e.where() for e in layer_violations(edges)] == ["labconsole.events.log:1 imports labconsole.lab.state"]


@pytest.mark.parametrize(
    "importer,imported,ok",
    [("cli", "lab", True), ("lab", "tui", False), ("runs", "agents", False), ("tui", "tui", True)],
)
def test_checker_layer_rule(importer: str, imported: str, ok: bool) -> None:
    edge = Edge(f"labconsole.{importer}.x", f"labconsole.{imported}.y", 1)
    assert (layer_violations([edge]) == []) is ok
