"""The import graph of one of our packages, read from the source (nothing is imported),
and the cycles in it: what tests/engine/test_layering.py and tests/gui/test_layering.py
hold the layers to.

Every import counts, the ones inside functions and under TYPE_CHECKING too: a lazy
import is still a dependency, only a later one.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imported(path: Path, modules: set[str]) -> set[str]:
    """The modules of `modules` that the file at `path` imports."""
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    named: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            named.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            # `from engine import json_file` depends on engine.json_file, not on engine's
            # __init__ (which Python runs for every engine module anyway).
            submodules = {f"{source}.{alias.name}" for alias in node.names} & modules
            named.update(submodules)
            if len(submodules) < len(node.names):
                named.add(source)
    found = set()
    for name in named:
        while name and name not in modules:  # engine.request.Problem -> engine.request
            name = name.rpartition(".")[0]
        if name and name != me:
            found.add(name)
    return found


def module_graph(package: str) -> dict[str, set[str]]:
    """Each module of the package (its folder under the repository) -> the package's
    modules it imports."""
    files = {module_name(path): path for path in (ROOT / package).rglob("*.py")}
    modules = set(files)
    return {name: _imported(path, modules) for name, path in files.items()}


def folder_of(module: str, package: str) -> str:
    """engine.models.library -> engine.models; a module directly in the package
    (engine.sampler) is a node of its own, as is the package's __init__."""
    parts = module.split(".")
    depth = len(package.split("."))
    if len(parts) > depth + 1:
        return ".".join(parts[:depth + 1])
    return module


def folder_graph(package: str, graph: dict[str, set[str]]) -> dict[str, set[str]]:
    folders: dict[str, set[str]] = {}
    for module, imports in graph.items():
        source = folder_of(module, package)
        folders.setdefault(source, set())
        for target in imports:
            target_folder = folder_of(target, package)
            if target_folder != source:
                folders[source].add(target_folder)
    return folders


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan's), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
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
    return sorted(found)


def describe(found: list[list[str]], modules: dict[str, set[str]], node_of=lambda m: m) -> list[str]:
    """Each cycle with the module imports that close it, for the failure message;
    `node_of` maps a module to its node (its folder, for the folder graph)."""
    lines = []
    for component in found:
        members = set(component)
        edges = [f"{a} -> {b}" for a in sorted(modules) for b in sorted(modules[a])
                 if node_of(a) in members and node_of(b) in members and node_of(a) != node_of(b)]
        lines.append(" <-> ".join(component) + ":\n    " + "\n    ".join(edges))
    return lines
