"""The window as a whole: panes that never collapse, a usable minimum size, and closing
with jobs unfinished."""
from __future__ import annotations

import pytest
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QSplitter

from tests.gui.test_generation import fill


@pytest.mark.parametrize("splitter_name", ["splitter", "gallery"])  # the gallery's: grid over details
def test_no_pane_can_be_dragged_shut(qtbot, window, splitter_name):
    splitter: QSplitter = getattr(window, splitter_name)
    assert all(not splitter.isCollapsible(i) for i in range(splitter.count()))
    # Drag the first handle as far as it goes, both ways: every pane keeps its width.
    for target in (0, 10_000):
        splitter.moveSplitter(target, 1)
        QGuiApplication.processEvents()
        assert min(splitter.sizes()) > 0
    if splitter_name == "splitter":
        assert splitter.widget(1).width() >= 300  # the preview, progress and queue


def test_the_window_keeps_a_usable_minimum(qtbot, window):
    window.resize(400, 300)
    assert (window.width(), window.height()) >= (900, 600)
    assert window.form.width() >= 250


def test_closing_during_a_generation_cancels_and_joins_the_worker(qtbot, window, engine):
    engine.hold_at_step = 2
    fill(window, steps=50)
    window.generation.generate()
    window.form.prompt.setPlainText("never runs")
    window.generation.generate()
    qtbot.waitUntil(engine.holding.is_set, timeout=5000)
    window.close()
    assert not window.host.thread.isRunning()
    assert engine.released_models
    assert [r.prompt for r in engine.requests] == ["a red circle on a blue background"]


def _two_jobs_then_close(qtbot, services, settings, engine, tmp_path):
    from gui.mainwindow import MainWindow
    services.queue_path = tmp_path / "queue.sqlite3"
    engine.hold_at_step = 2
    first = MainWindow(services, settings)
    qtbot.addWidget(first)
    first.show()
    fill(first, prompt="running one", steps=5, seed=3)
    first.generation.generate()
    first.form.prompt.setPlainText("waiting one")
    first.generation.generate()
    qtbot.waitUntil(engine.holding.is_set, timeout=5000)
    first.close()
    return first


def _reopened(qtbot, services, settings, engine):
    from gui.mainwindow import MainWindow
    engine.hold_at_step = None
    second = MainWindow(services, settings)
    qtbot.addWidget(second)
    return second


def test_closing_with_unfinished_jobs_asks_and_cancel_keeps_the_window_open(
        qtbot, window, engine, close_answers):
    answers, asked = close_answers
    engine.hold_at_step = 2
    fill(window, steps=5)
    window.generation.generate()
    window.generation.generate()
    qtbot.waitUntil(engine.holding.is_set, timeout=5000)
    answers.append("cancel")
    window.close()
    assert asked == [2] and window.isVisible() and window.host.thread.isRunning()
    assert window.queue_panel.unfinished_jobs() == 2
    engine.proceed.set()  # the fixture's own close then keeps them


def test_closing_and_discarding_leaves_no_job_for_the_next_start(
        qtbot, services, settings, engine, tmp_path, close_answers):
    answers, asked = close_answers
    answers.append("discard")
    first = _two_jobs_then_close(qtbot, services, settings, engine, tmp_path)
    assert asked == [2] and not first.host.thread.isRunning()
    second = _reopened(qtbot, services, settings, engine)
    assert second.worker.queue.jobs() == []
    second.close()
    assert asked == [2]  # nothing unfinished: no question


def test_closing_with_nothing_unfinished_does_not_ask(qtbot, window, close_answers):
    window.close()
    assert close_answers[1] == []
