"""The queue under the progress bar: jobs wait in order, can be reordered, removed, run
again after an interrupted session, paused, and all cancelled at once."""
from __future__ import annotations

from PySide6.QtCore import Qt

from engine.jobs import Finished, JobState
from tests.gui.test_generation import fill, on


def test_jobs_queue_while_one_runs_and_can_be_reordered_and_removed(qtbot, window, engine):
    engine.hold_at_step = 1
    fill(window, prompt="first", steps=2, seed=1)
    window.generation.generate()
    qtbot.waitUntil(engine.holding.is_set, timeout=5000)
    ids = {}
    for name in ("second", "third", "fourth"):
        window.form.prompt.setPlainText(name)
        ids[name] = window.generation.generate()
    assert window.queue_panel.list.count() == 4  # the running job first, not to be moved
    assert window.queue_panel.list.item(0).text().startswith("Running")
    assert window.queue_panel.header.text() == "Queue: 3 waiting"

    window.queue_panel.list.setCurrentRow(1)  # "second"
    assert not window.queue_panel.up.isEnabled()
    window.queue_panel.list.setCurrentRow(3)  # "fourth"
    qtbot.mouseClick(window.queue_panel.up, Qt.MouseButton.LeftButton)
    window.queue_panel.list.setCurrentRow(1)  # "second"
    qtbot.mouseClick(window.queue_panel.drop, Qt.MouseButton.LeftButton)
    assert [item.text().split()[0] for item in
            (window.queue_panel.list.item(i) for i in range(1, window.queue_panel.list.count()))] \
        == [f"#{ids['fourth']}", f"#{ids['third']}"]

    engine.hold_at_step = None
    done = []
    on(window, Finished, lambda o, _: done.append(o.request.prompt))
    engine.proceed.set()
    qtbot.waitUntil(lambda: len(done) == 3, timeout=5000)
    assert done == ["first", "fourth", "third"]
    qtbot.waitUntil(lambda: window.queue_panel.list.count() == 0, timeout=5000)


def test_closing_mid_job_keeps_the_queue_and_one_click_runs_the_interrupted_job(
        qtbot, services, settings, engine, tmp_path):
    from gui.mainwindow import MainWindow
    from gui.queue_panel import RESUME
    services.queue_path = tmp_path / "queue.sqlite3"
    engine.hold_at_step = 2
    first = MainWindow(services, settings)
    qtbot.addWidget(first)
    first.show()
    fill(first, prompt="interrupted one", steps=5, seed=3)
    running = first.generation.generate()
    first.form.prompt.setPlainText("waiting one")
    waiting = first.generation.generate()
    qtbot.waitUntil(engine.holding.is_set, timeout=5000)
    first.close()

    engine.hold_at_step = None
    second = MainWindow(services, settings)
    qtbot.addWidget(second)
    second.show()
    assert [(j.id, j.state) for j in second.worker.queue.jobs()] == [
        (running, JobState.INTERRUPTED), (waiting, JobState.PENDING)]
    assert second.queue_panel.header.text() == "Queue: 2 waiting (paused)"
    assert "1 interrupted" in second.banner.text.text() and second.banner.button.text() == RESUME
    second.queue_panel.list.setCurrentRow(0)
    assert second.queue_panel.again.isEnabled()
    assert not second.queue_panel.drop.isHidden()
    done = []
    on(second, Finished, lambda e, _: done.append(e.request.prompt))
    qtbot.mouseClick(second.queue_panel.again, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(done) == 2, timeout=5000)
    assert done == ["interrupted one", "waiting one"]
    assert second.worker.queue.jobs() == []
    second.close()


def test_pause_holds_the_next_job_and_cancel_all_empties_the_queue(qtbot, window, engine,
                                                                   cancel_all_answers):
    engine.hold_at_step = 1
    fill(window, prompt="first", steps=2)
    window.generation.generate()
    qtbot.waitUntil(engine.holding.is_set, timeout=5000)
    qtbot.mouseClick(window.queue_panel.pause_button, Qt.MouseButton.LeftButton)
    window.form.prompt.setPlainText("second")
    window.generation.generate()
    assert window.queue_panel.header.text() == "Queue: 1 waiting (paused)"
    done = []
    on(window, Finished, lambda e, _: done.append(e.request.prompt))
    engine.hold_at_step = None
    engine.proceed.set()
    qtbot.waitUntil(lambda: done == ["first"], timeout=5000)
    qtbot.wait(100)
    assert done == ["first"] and len(window.worker.queue.waiting()) == 1  # paused: it waits

    engine.proceed.clear()
    engine.hold_at_step = 1
    qtbot.mouseClick(window.queue_panel.pause_button, Qt.MouseButton.LeftButton)  # resume
    qtbot.waitUntil(engine.holding.is_set, timeout=5000)
    window.form.prompt.setPlainText("third")
    window.generation.generate()
    cancel_all_answers[0].append(False)  # issue 31: two jobs would go, so it asks first
    qtbot.mouseClick(window.queue_panel.stop_all, Qt.MouseButton.LeftButton)
    assert cancel_all_answers[1] == [2] and len(window.worker.queue.waiting()) == 1
    with qtbot.waitSignal(window.progress.job_over, timeout=5000):
        qtbot.mouseClick(window.queue_panel.stop_all, Qt.MouseButton.LeftButton)
    assert window.progress.phase.text() == "Cancelled"
    assert window.worker.queue.jobs() == [] and window.queue_panel.list.count() == 0
    assert done == ["first"]


def _clipped(panel) -> list[str]:
    """The queue toolbar's widgets drawn narrower than their text needs."""
    widgets = [panel.header, panel.up, panel.down, panel.drop, panel.again, panel.pause_button,
               panel.stop_all]
    return [f"{w.text()!r}: {w.width()} < {w.sizeHint().width()}" for w in widgets
            if w.isVisible() and w.width() < w.sizeHint().width()]


def test_at_the_default_size_the_toolbar_is_whole_rows_fit_and_the_running_job_is_listed(
        qtbot, services, settings, engine, tmp_path, themed):
    """Issue 31, item 2: at 1440x880 "Run again" and "Cancel all" were cut, an interrupted
    row needed a sideways scroll, and the running job was not in the list."""
    from gui.mainwindow import MainWindow
    services.queue_path = tmp_path / "queue.sqlite3"
    engine.hold_at_step = 2
    first = MainWindow(services, settings)
    qtbot.addWidget(first)
    first.show()
    fill(first, prompt="a large white circle on the right and a small blue square on the left, "
         "purple background", steps=5, seed=3)
    first.generation.generate()
    qtbot.waitUntil(engine.holding.is_set, timeout=5000)
    first.close()

    engine.holding.clear()
    second = MainWindow(services, settings)
    qtbot.addWidget(second)
    second.resize(1440, 880)
    second.show()
    panel = second.queue_panel
    fill(second, prompt="running now", steps=5, seed=4)
    panel.set_paused(False)
    second.generation.generate()
    qtbot.waitUntil(engine.holding.is_set, timeout=5000)
    for name in ("second", "third"):
        second.form.prompt.setPlainText(name)
        second.generation.generate()
    qtbot.waitUntil(lambda: panel.list.count() == 4, timeout=5000)
    qtbot.wait(50)  # one more pass of the layouts

    assert _clipped(panel) == []
    top = panel.list.item(0)
    assert top.text().startswith("Running") and "running now" in top.text()
    assert "step 1 of 5" in top.text()  # parked before step 2
    assert panel.list.horizontalScrollBar().maximum() == 0
    shown = [panel.list.fontMetrics().elidedText(panel.list.item(i).text(),
                                                 Qt.TextElideMode.ElideRight,
                                                 panel.list.viewport().width() - 8)
             for i in range(panel.list.count())]
    assert shown[1].startswith("Interrupted"), shown

    second.resize(900, 600)
    qtbot.wait(50)
    assert _clipped(panel) == []
    assert panel.list.horizontalScrollBar().maximum() == 0
    engine.hold_at_step = None
    engine.proceed.set()
    second.close()


def test_a_job_the_queue_cannot_keep_is_named_not_a_crash(qtbot, window, engine):
    """A prompt longer than a stored job can hold is refused by the queue itself; the window
    says so and queues the rest (it used to raise out of the Generate button)."""
    from engine.request import GenerationRequest
    huge = GenerationRequest("cat, " * 15_000, model="demo", steps=1)
    ids = window.queue_panel.enqueue([huge, GenerationRequest("a red circle", model="demo", steps=1)])
    assert ids[0] is None and isinstance(ids[1], int)
    assert window.notices.banner.isVisible() and "too long" in window.notices.banner.text.text()


def test_a_damaged_job_stays_listed_and_is_named(qtbot, services, settings, engine, tmp_path):
    """A job whose stored settings cannot be read is said in the banner and stays in the list
    to be removed (the window listed only waiting jobs, so it vanished without a word)."""
    import sqlite3

    from engine.jobs import JobQueue
    from engine.request import GenerationRequest
    from gui.mainwindow import MainWindow
    services.queue_path = tmp_path / "queue.sqlite3"
    queue = JobQueue(services.queue_path)
    broken = queue.add(GenerationRequest("a red circle", model="demo", steps=1)).id
    queue.close()
    with sqlite3.connect(services.queue_path) as conn:
        conn.execute("UPDATE jobs SET request_json = '{not json' WHERE id = ?", (broken,))
    window = MainWindow(services, settings)
    qtbot.addWidget(window)
    window.show()
    window.queue_panel.set_paused(False)
    qtbot.waitUntil(lambda: "damaged" in window.banner.text.text(), timeout=5000)
    assert window.queue_panel.list.count() == 1
    assert "damaged" in window.queue_panel.list.item(0).text().lower()
    window.queue_panel.list.setCurrentRow(0)
    qtbot.mouseClick(window.queue_panel.drop, Qt.MouseButton.LeftButton)
    assert window.queue_panel.list.count() == 0
