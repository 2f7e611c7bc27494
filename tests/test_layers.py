"""The layers of docs/architecture.md, held against the code: a lower layer never imports a higher
one, the packages of one layer do not import each other, and no module takes part in an import
cycle. Every import counts: inside functions and under ``TYPE_CHECKING`` too, and importing a
module also runs its packages' ``__init__``."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from conftest import REPO_ROOT

SRC = REPO_ROOT / "src" / "airgapkit"
DOC = REPO_ROOT / "docs" / "architecture.md"


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def read_modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(SRC.rglob("*.py"))}


def imports(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Each module's airgapkit imports: the module named, and the packages above it (their
    ``__init__`` runs first), other than the importer's own."""
    found: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, *([node.module] if node.module else [])])
                named = [f"{base}.{alias.name}" for alias in node.names]
                submodules = [n for n in named if n in modules]
                targets.update(submodules if len(submodules) == len(named) else [base, *submodules])
        found[name] = set()
        for target in targets:
            while target in modules or "." in target:
                if target in modules and target != name and not name.startswith(f"{target}."):
                    found[name].add(target)
                target = target.rpartition(".")[0]
    return found


def documented_layers() -> list[list[str]]:
    """The ``layers`` block of docs/architecture.md: one layer a line, highest first."""
    block = re.search(r"```layers\n(.*?)```", DOC.read_text(), re.S)
    assert block, f"{DOC} lost its ```layers block"
    return [[part.strip() for part in line.split("|")] for line in block.group(1).splitlines()]


def group_of(module: str) -> str:
    """The layer's unit a module belongs to: its top-level package or module under airgapkit."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


@pytest.fixture(scope="module")
def graph():
    return imports(read_modules())


def test_every_package_and_top_level_module_has_a_layer(graph):
    placed = {group for layer in documented_layers() for group in layer}
    assert {group_of(module) for module in graph} == placed


def test_a_lower_layer_never_imports_a_higher_one(graph):
    level = {group: n for n, layer in enumerate(documented_layers()) for group in layer}
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in graph.items()
        for target in targets
        if group_of(module) != group_of(target)
        and level[group_of(target)] <= level[group_of(module)]
    )
    assert wrong == []


def test_no_module_is_part_of_an_import_cycle(graph):
    cycles = [sorted(c) for c in strongly_connected(graph) if len(c) > 1]
    assert cycles == []


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's components of the import graph, without recursion."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
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
                found.append(component)
    return found


def test_the_check_sees_a_cycle_and_an_upward_import():
    """The check itself: a made-up graph with a cycle and an import from a lower layer upward."""
    made_up = {"a.x": {"a.y"}, "a.y": {"a.x"}, "a.z": set()}
    assert [sorted(c) for c in strongly_connected(made_up) if len(c) > 1] == [["a.x", "a.y"]]
    assert (
        group_of("airgapkit.crossing.bundle") == "crossing" and group_of("airgapkit") == "airgapkit"
    )
