"""The layering rules, checked on the source: the domain imports only itself and a few
neutral modules, and no module of ``bot/`` or ``web/`` sits in an import cycle.

The imports are read with ``ast`` (nothing is executed), including those inside functions:
a deferred import placed to dodge a cycle is still a cycle.  Imports under
``if TYPE_CHECKING:`` count for the domain's purity but not for cycles, since they never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "web")

#: what a module under bot/domain may import besides the standard library
DOMAIN_MAY_IMPORT = ("bot.domain", "bot.engines.base", "bot.tasks")
#: named by the issue that set the rule; checked on their own so the message is specific
DOMAIN_FORBIDDEN = (
    "bot.storage",
    "bot.config",
    "bot.telegram",
    "bot.sources",
    "aiogram",
    "pyrogram",
    "pytgcalls",
)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue  # Alembic loads these by path; they are not imported by anything
            found[module_name(path)] = path
    return found


MODULES = all_modules()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _absolute(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if MODULES[module].name != "__init__.py":
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def imports(module: str) -> list[tuple[str, bool]]:
    """(imported module, only under TYPE_CHECKING) for every import statement of ``module``."""
    tree = ast.parse(MODULES[module].read_text(), str(MODULES[module]))
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, typing_only: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for stmt in node.body:
                visit(stmt, True)
            for stmt in node.orelse:
                visit(stmt, typing_only)
            return
        if isinstance(node, ast.Import):
            found.extend((alias.name, typing_only) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            target = _absolute(module, node)
            for alias in node.names:
                # ``from bot.x import y`` imports the module bot.x.y when there is one
                sub = f"{target}.{alias.name}"
                found.append((sub if sub in MODULES else target, typing_only))
        for child in ast.iter_child_nodes(node):
            visit(child, typing_only)

    visit(tree, False)
    return found


def test_walk_sees_the_code() -> None:
    """Guards the walk itself: a broken walk would find no imports and pass everything."""
    assert "bot.domain.manager" in MODULES
    assert ("bot.domain.queue", False) in imports("bot.domain.manager")


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith("bot.domain")))
def test_domain_imports_only_itself(module: str) -> None:
    bad = []
    for target, _typing_only in imports(module):
        if (
            target.startswith(DOMAIN_FORBIDDEN)
            or (
                target.split(".")[0] in PACKAGES
                and not any(target == a or target.startswith(a + ".") for a in DOMAIN_MAY_IMPORT)
            )
            or (target.split(".")[0] not in PACKAGES and not _stdlib(target))
        ):
            bad.append(target)
    assert not bad, f"{module} imports {sorted(set(bad))}"


def _stdlib(name: str) -> bool:
    import sys

    return name.split(".")[0] in sys.stdlib_module_names or name == "__future__"


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module in MODULES:
        edges = set()
        for target, typing_only in imports(module):
            if typing_only:
                continue
            # importing a.b.c runs a/__init__ and a/b/__init__ first
            parts = target.split(".")
            for depth in range(1, len(parts) + 1):
                prefix = ".".join(parts[:depth])
                if prefix in MODULES and prefix != module:
                    edges.add(prefix)
        graph[module] = edges
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = 0

    def connect(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                connect(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return cycles


def test_cycle_finder_finds_a_cycle() -> None:
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles() -> None:
    assert find_cycles(_graph()) == []
