"""Messages go when their truth ends (issue 31, item 3): the leftover-jobs banner once the
queue is empty, "Form filled from…" at the next edit or Generate, "Cancelled" once the
next job starts."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt

from engine.pngmeta import save_png
from engine.request import GenerationRequest
from tests.gui.test_generation import fill
from tests.gui.test_image_drops import _drop


def _dropped_recipe(qtbot, window, tmp_path):
    request = GenerationRequest(prompt="a red circle", seed=7, steps=3, width=128, height=128,
                                model="demo")
    path = save_png(tmp_path / "fox.png", np.zeros((128, 128, 3), np.uint8), request, 7, "demo")
    _drop(window, path)
    qtbot.wait(100)  # whatever the filled form does later must not count as an edit
    assert window.banner.isVisible() and "Form filled from fox.png" in window.banner.text.text()


def test_the_form_filled_note_goes_at_the_next_edit(qtbot, window, tmp_path):
    _dropped_recipe(qtbot, window, tmp_path)
    window.form.prompt.setFocus()
    qtbot.keyClicks(window.form.prompt, "!")
    assert not window.banner.isVisible()


def test_the_form_filled_note_goes_at_generate(qtbot, window, engine, tmp_path):
    _dropped_recipe(qtbot, window, tmp_path)
    with qtbot.waitSignal(window.progress.job_over, timeout=5000):
        window.generation.generate()
    assert not window.banner.isVisible()


def test_an_error_banner_is_not_taken_for_the_note(qtbot, window, tmp_path):
    _dropped_recipe(qtbot, window, tmp_path)
    window.notices.error("Something failed", "Read this.")
    qtbot.keyClicks(window.form.prompt, "!")
    assert window.banner.isVisible() and window.banner.title.text() == "Something failed"


def test_the_leftover_jobs_banner_goes_when_cancel_all_empties_the_queue(
        qtbot, services, settings, engine, tmp_path):
    from gui.mainwindow import MainWindow
    services.queue_path = tmp_path / "queue.sqlite3"
    engine.hold_at_step = 2
    first = MainWindow(services, settings)
    qtbot.addWidget(first)
    first.show()
    fill(first, prompt="one", steps=5)
    first.generation.generate()
    first.form.prompt.setPlainText("two")
    first.generation.generate()
    qtbot.waitUntil(engine.holding.is_set, timeout=5000)
    first.close()

    second = MainWindow(services, settings)
    qtbot.addWidget(second)
    second.show()
    assert second.banner.isVisible() and "from the last session" in second.banner.text.text()
    qtbot.mouseClick(second.queue_panel.stop_all, Qt.MouseButton.LeftButton)
    assert second.worker.queue.jobs() == []
    assert not second.banner.isVisible()
    second.close()


def test_cancelled_goes_when_the_next_job_starts(qtbot, window, engine):
    engine.hold_at_step = 1
    fill(window, prompt="first", steps=3)
    window.generation.generate()
    qtbot.waitUntil(engine.holding.is_set, timeout=5000)
    with qtbot.waitSignal(window.progress.job_over, timeout=5000):
        window.generation.cancel()
    assert window.progress.phase.text() == "Cancelled"
    engine.holding.clear()
    window.form.prompt.setPlainText("second")
    window.generation.generate()
    qtbot.waitUntil(engine.holding.is_set, timeout=5000)
    qtbot.wait(50)
    assert "Cancel" not in window.progress.phase.text()
    assert "Cancel" not in window.statusBar().currentMessage()
    engine.hold_at_step = None
    with qtbot.waitSignal(window.progress.job_over, timeout=5000):
        engine.proceed.set()
