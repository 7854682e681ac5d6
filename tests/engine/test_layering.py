"""The engine is usable from a script, the CLI and the GUI alike: it never imports Qt or gui/."""
import ast
from pathlib import Path

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
