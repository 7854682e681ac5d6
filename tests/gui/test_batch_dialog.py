"""Tools > Batch / X-Y plot: engine.batch's jobs on the window's queue, and the grid once they end."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from engine.batch.grid import EMPTY_CELL, GRID_KEY, plan_layout
from tests.gui.fakes import fake_services


@pytest.fixture
def services(engine, history, tmp_path):
    """The window's services, with the grids in a folder of the test's own."""
    services = fake_services(engine, history)
    services.grids_dir = tmp_path / "grids"
    return services


def _open(qtbot, window, prompts="a small red circle on the left, blue background"):
    window.model_chooser.select("demo")
    window.form.steps.setValue(2)
    window.form.set_size(128, 128)
    window.form.seed.set_value(7)
    window.form.seed.lock.setChecked(True)
    window.menus.actions["batch"].trigger()
    dialog = window.batches.dialog
    qtbot.waitUntil(dialog.isVisible)
    dialog.prompts.setPlainText(prompts)
    return dialog


def _queue(qtbot, dialog):
    qtbot.mouseClick(dialog.queue_button, Qt.MouseButton.LeftButton)


def test_a_bad_axis_value_gets_the_engines_message_and_nothing_is_queued(qtbot, window, engine):
    dialog = _open(qtbot, window)
    dialog.set_axis(0, "steps", "2,x")
    assert dialog.problems.isVisible()
    assert "'x' is not a whole number" in dialog.problems.text()
    assert not dialog.queue_button.isEnabled()
    _queue(qtbot, dialog)
    dialog.accept()  # even pressed some other way (Enter), a bad batch stays in the dialog
    assert dialog.isVisible()
    assert window.worker.queue.jobs() == [] and engine.requests == [] and not window.batches.runs


def test_a_bad_prompt_line_is_named_by_its_number_and_fixing_it_enables_queue(qtbot, window):
    dialog = _open(qtbot, window, "# two prompts\na red circle\nbad \x01 line\n")
    assert "line 3" in dialog.problems.text() and "U+0001" in dialog.problems.text()
    assert not dialog.queue_button.isEnabled()
    dialog.prompts.setPlainText("# two prompts\na red circle\na blue square\n")
    assert not dialog.problems.isVisible() and dialog.queue_button.isEnabled()
    assert dialog.summary.text() == "2 jobs, 2 images"
    dialog.reject()
    assert window.worker.queue.jobs() == []


def test_a_prompt_file_loads_into_the_list_and_an_unreadable_one_is_named(qtbot, window, tmp_path):
    dialog = _open(qtbot, window, "")
    good = tmp_path / "prompts.txt"
    good.write_text("# comment\na red circle\na blue square\n", encoding="utf-8")
    assert dialog.load_prompt_file(good)
    assert dialog.prompts.toPlainText().startswith("# comment")
    assert dialog.summary.text() == "2 jobs, 2 images"
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("a caf\xe9 at night\n".encode("latin-1"))
    assert not dialog.load_prompt_file(bad)
    assert "not UTF-8" in dialog.problems.text() and "line 1" in dialog.problems.text()
    assert dialog.prompts.toPlainText().startswith("# comment")  # the list is kept


def _cell_colour(pixels: np.ndarray, layout, row: int, column: int):
    x0, y0, x1, y1 = layout.cell_box(row, column)
    return tuple(pixels[(y0 + y1) // 2, (x0 + x1) // 2])


def test_a_two_by_two_grid_queues_four_jobs_then_saves_and_shows_the_grid(
        qtbot, window, engine, history, tmp_path):
    dialog = _open(qtbot, window)
    dialog.set_axis(0, "seed", "1,2")
    dialog.set_axis(1, "guidance", "5,9")
    assert dialog.summary.text() == "4 jobs, 4 images, 1 grid"
    _queue(qtbot, dialog)
    assert not dialog.isVisible()
    run = window.batches.runs[-1]
    with qtbot.waitSignal(run.grids_shown, timeout=20000) as shown:
        pass
    # The CLI's order: the first axis fastest, every other setting from the form.
    assert [(r.seed, r.guidance) for r in engine.requests] == [(1, 5), (2, 5), (1, 9), (2, 9)]
    assert {(r.model, r.steps, r.width, r.height) for r in engine.requests} == {("demo", 2, 128, 128)}
    assert history.count() == 4  # the images are in the history; the grid is not
    [path] = shown.args[0]
    assert path.parent == tmp_path / "grids" and path.name.startswith("grid-")
    with Image.open(path) as grid:
        recipe = json.loads(grid.text[GRID_KEY])
        assert "Seed: 1" in grid.text["parameters"]
        pixels = np.asarray(grid.convert("RGB"))
    assert recipe["columns"]["labels"] == ["Seed: 1", "Seed: 2"]
    assert recipe["rows"]["labels"] == ["Guidance: 5", "Guidance: 9"]
    saved = {e.path.name: e for e in history.page(0, 10)}
    assert sorted(cell["file"] for cell in recipe["cells"]) == sorted(saved)
    layout = plan_layout(128, 128, recipe["columns"]["labels"], recipe["rows"]["labels"])
    assert grid.size == layout.size
    for cell in recipe["cells"]:  # each history image sits in its own row and column
        with Image.open(saved[cell["file"]].path) as image:
            expected = tuple(np.asarray(image.convert("RGB"))[64, 64])
        assert _cell_colour(pixels, layout, cell["row"], cell["column"]) == expected
    viewer = run.viewer
    assert viewer.isVisible() and viewer.caption.text() == path.name
    assert not viewer.pixmap.isNull() and viewer.pixmap.width() == grid.width


def test_a_job_removed_from_the_queue_leaves_its_cell_empty(qtbot, window, engine, history):
    engine.hold_at_step = 1
    dialog = _open(qtbot, window)
    dialog.set_axis(0, "seed", "1,2,3")
    _queue(qtbot, dialog)
    run = window.batches.runs[-1]
    qtbot.waitUntil(engine.holding.is_set, timeout=5000)
    last = max(run.jobs)
    window.queue_panel.remove_job(last)
    engine.hold_at_step = None
    with qtbot.waitSignal(run.grids_shown, timeout=20000) as shown:
        engine.proceed.set()
    assert [r.seed for r in engine.requests] == [1, 2]
    [path] = shown.args[0]
    with Image.open(path) as grid:
        recipe = json.loads(grid.text[GRID_KEY])
        pixels = np.asarray(grid.convert("RGB"))
    layout = plan_layout(128, 128, recipe["columns"]["labels"])
    assert _cell_colour(pixels, layout, 0, 2) == EMPTY_CELL
    assert sorted(cell["column"] for cell in recipe["cells"]) == [0, 1]


def test_saved_grids_are_listed_under_the_gallery_and_open_again_after_the_viewer_closes(
        qtbot, window, engine, history, tmp_path):
    """Issue 31, item 9: a grid could be seen only in the viewer the batch opened."""
    shelf = window.grid_shelf
    assert shelf.isHidden()  # no grid yet: no button
    dialog = _open(qtbot, window)
    dialog.set_axis(0, "seed", "1,2")
    _queue(qtbot, dialog)
    run = window.batches.runs[-1]
    with qtbot.waitSignal(run.grids_shown, timeout=20000) as shown:
        pass
    [path] = shown.args[0]
    run.viewer.close()
    assert not shelf.isHidden() and shelf.text() == "X/Y grids (1)"
    assert window.gallery.isAncestorOf(shelf)
    shelf.menu().aboutToShow.emit()
    [action] = shelf.menu().actions()
    assert action.text().startswith(path.name)
    action.trigger()
    viewer = shelf.viewer
    assert viewer.isVisible() and viewer.caption.text() == path.name
    assert not viewer.pixmap.isNull()
    viewer.close()
