"""The GUI's layers: the window only composes its parts, so no part imports it back (only
gui/app.py, which builds it), no import cycle joins two gui modules, and no module grows
past what a reader takes in at once."""
from pathlib import Path

from tests.import_graph import cycles, describe, module_graph

GUI = Path(__file__).resolve().parents[2] / "gui"
COMPOSITION_ROOT = "gui.app"  # the one module that builds the main window
MAX_LINES = 400


def test_no_import_cycle_between_gui_modules():
    graph = module_graph("gui")
    found = cycles(graph)
    assert not found, "import cycles:\n" + "\n".join(describe(found, graph))


def test_only_the_app_imports_the_main_window():
    importers = sorted(module for module, imports in module_graph("gui").items()
                       if "gui.mainwindow" in imports and module != COMPOSITION_ROOT)
    assert importers == [], "the window's parts must not reach back into it: " + ", ".join(importers)


def test_no_gui_module_is_over_400_lines():
    offenders = {str(path.relative_to(GUI.parent)): count for path in sorted(GUI.rglob("*.py"))
                 if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not offenders, f"over {MAX_LINES} lines (split them by role): " + ", ".join(
        f"{name} ({count})" for name, count in offenders.items())
