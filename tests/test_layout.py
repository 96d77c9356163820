"""The layout's rules, read from the sources: no import circle among the modules of
``analysis``, ``config`` and ``tasks`` (every import counts, also one inside a function), and
each floor of ``analysis/`` imports only the floors below it (its package docstring says
which)."""

import ast
import os

import pytest

from tests.conftest import REPO

PACKAGES = ("analysis", "config", "tasks")


def module_files():
    """{module name: source path} of every module of PACKAGES."""
    out = {}
    for package in PACKAGES:
        for root, dirs, files in os.walk(os.path.join(REPO, package)):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(files):
                if name.endswith(".py"):
                    relative = os.path.relpath(os.path.join(root, name), REPO)[:-3].split(os.sep)
                    out[".".join(relative[:-1] if relative[-1] == "__init__" else relative)] = os.path.join(root, name)
    return out


def import_graph():
    """{module: {module it imports}} over PACKAGES, with every import statement of the
    module (at its top or inside a function); ``from a import b`` counts as ``a.b`` where
    that is a module, else as ``a``."""
    files = module_files()
    graph = {}
    for module, path in files.items():
        is_package = path.endswith("__init__.py")
        edges = set()
        for node in ast.walk(ast.parse(open(path).read(), path)):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = module.split(".")[:len(module.split(".")) - node.level + is_package]
                    base = ".".join(parts + ([node.module] if node.module else []))
                names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in files else base for alias in node.names]
            else:
                continue
            for name in names:
                while name and name not in files:
                    name = name.rpartition(".")[0]
                if name and name != module:
                    edges.add(name)
        graph[module] = edges
    return graph


def circles(graph):
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
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

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circle():
    assert circles(import_graph()) == []


def test_the_circle_finder_finds_a_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [["a", "b", "c"]]


# what each floor of analysis/ may import of analysis (besides itself and the modules at its top)
FLOORS = {
    "analysis.engine": set(),
    "analysis.runtime": {"analysis.engine"},
    "analysis.physics": {"analysis.engine"},
    "analysis.stats": {"analysis.engine", "analysis.physics"},
}


@pytest.mark.parametrize("floor", sorted(FLOORS))
def test_floors_import_only_the_floors_below(floor):
    graph = import_graph()
    wrong = sorted(
        f"{module} -> {target}"
        for module, targets in graph.items() if module == floor or module.startswith(floor + ".")
        for target in targets
        if target.startswith("analysis.") and target.count(".") > 1 and not target.startswith(floor + ".")
        and ".".join(target.split(".")[:2]) not in FLOORS[floor]
    )
    assert wrong == []
    assert FLOORS[floor] <= set(FLOORS)


def test_config_imports_nothing_of_analysis_but_its_errors():
    """config/ is data: it may raise analysis.errors.TmetError, and analysis reads it, never
    the other way round (the checks that need the analysis code read a built config:
    analysis.physics.checks)."""
    graph = import_graph()
    wrong = sorted(f"{module} -> {target}" for module, targets in graph.items() if module.split(".")[0] == "config"
                   for target in targets if target.split(".")[0] == "analysis" and target != "analysis.errors")
    assert wrong == []


def test_analysis_keeps_at_most_eight_modules_outside_its_floors():
    top = [name for name in os.listdir(os.path.join(REPO, "analysis")) if name.endswith(".py")]
    assert len(top) <= 8, top
