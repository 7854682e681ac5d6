"""The engine's layers: it never imports Qt or gui/, only compute/ names a framework, and
no import cycle joins two of its modules or folders (a script, the CLI and the GUI use it alike)."""
import ast
from pathlib import Path

from tests.import_graph import cycles, describe, folder_graph, folder_of, module_graph

ENGINE = Path(__file__).resolve().parents[2] / "engine"
FORBIDDEN = ("PySide6", "shiboken6", "gui")


def imported_names(path: Path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def test_no_engine_module_imports_qt_or_the_gui():
    offenders = [
        f"{path.relative_to(ENGINE.parent)} imports {name}"
        for path in sorted(ENGINE.rglob("*.py"))
        for name in imported_names(path)
        if name.split(".")[0] in FORBIDDEN
    ]
    assert offenders == []


FRAMEWORKS = ("tensorflow", "jax", "jaxlib", "torch")
# The demo model's trainers are tools for one framework each, not the generation path.
TRAINERS = ("demo/train.py", "demo/train_jax.py")


def test_only_engine_compute_names_a_framework():
    offenders = [
        f"{path.relative_to(ENGINE.parent)} imports {name}"
        for path in sorted(ENGINE.rglob("*.py"))
        if "compute" not in path.relative_to(ENGINE).parts[:1]
        and not str(path.relative_to(ENGINE)).endswith(TRAINERS)
        for name in imported_names(path)
        if name.split(".")[0] in FRAMEWORKS
    ]
    assert offenders == []


def test_no_import_cycle_between_engine_modules():
    graph = module_graph("engine")
    found = cycles(graph)
    assert not found, "import cycles:\n" + "\n".join(describe(found, graph))


def test_no_import_cycle_between_engine_folders():
    """Each folder of engine/ (and each module directly in it) is a layer: imports between
    them run one way, so a reader can see what sits on what."""
    modules = module_graph("engine")
    found = cycles(folder_graph("engine", modules))
    assert not found, "import cycles between folders:\n" + "\n".join(
        describe(found, modules, lambda module: folder_of(module, "engine")))


def test_the_cycle_check_sees_a_cycle():
    """The check itself: a graph with a cycle through three modules is reported."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert describe(cycles(graph), graph) == ["a <-> b <-> c:\n    a -> b\n    b -> c\n    c -> a"]
