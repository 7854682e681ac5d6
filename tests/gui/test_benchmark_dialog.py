"""The Benchmark dialog runs engine.benchmark on the generation worker's thread."""
import threading

from PySide6.QtCore import Qt


def _open(window, qtbot):
    window.menus.open_benchmark()
    dialog = window.menus.benchmark_dialog
    qtbot.waitUntil(dialog.isVisible)
    dialog.model.setCurrentIndex(dialog.model.findData("demo"))
    dialog.steps.setValue(3)
    dialog.runs.setValue(2)
    return dialog


def test_benchmark_runs_on_the_worker_thread_and_shows_table_and_chart(qtbot, window, engine):
    dialog = _open(window, qtbot)
    dialog.configs["mixed"].setChecked(True)
    with qtbot.waitSignal(dialog.task.finished, timeout=20000):
        qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
    # The signal comes from the worker's thread: the dialog's own slot for it is queued to
    # the GUI thread and may run just after the test's blocker.
    qtbot.waitUntil(lambda: dialog.report is not None, timeout=5000)
    assert threading.get_ident() not in engine.threads  # never on the GUI thread
    assert [(r.mixed_precision, r.steps) for r in engine.requests] == [(False, 3)] * 3 + [(True, 3)] * 3
    assert dialog.table.rowCount() == 2 and dialog.table.item(1, 0).text() == "mixed"
    assert not dialog.chart.pixmap().isNull()
    assert dialog.run_button.isEnabled() and not dialog.cancel_button.isEnabled()
    assert dialog.report["settings"]["compare"] is False  # the demo model has no KerasCV twin


def test_cancel_stops_the_benchmark_within_a_step(qtbot, window, engine):
    dialog = _open(window, qtbot)
    engine.hold_at_step = 2
    qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(engine.holding.is_set, timeout=10000)
    with qtbot.waitSignal(dialog.task.cancelled, timeout=10000):
        qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    assert len(engine.requests) == 1
    # The dialog's own slot for the same signal may run just after the test's blocker.
    qtbot.waitUntil(lambda: dialog.status.text() == "Cancelled." and dialog.run_button.isEnabled(),
                    timeout=5000)


def test_the_dialog_names_models_starts_on_an_installed_one_and_closes(qtbot, window, engine):
    window.menus.open_benchmark()
    dialog = window.menus.benchmark_dialog
    qtbot.waitUntil(dialog.isVisible)
    labels = [dialog.model.itemText(i) for i in range(dialog.model.count())]
    assert "Demo (built-in)" in labels and "demo" not in labels and "sd-v1.4" not in labels
    chosen = next(m for m in window.model_chooser.models() if m.id == dialog.model.currentData())
    assert chosen.usable
    dialog.findChild(type(dialog.run_button), "closeBenchmark").click()
    assert not dialog.isVisible()


def test_on_the_demo_model_it_runs_a_prompt_the_demo_can_draw(qtbot, window, engine):
    from engine.demo.text import vocabulary_problem
    dialog = _open(window, qtbot)
    dialog.runs.setValue(1)
    with qtbot.waitSignal(dialog.task.finished, timeout=20000):
        qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
    assert engine.requests and all(vocabulary_problem(r.prompt) is None for r in engine.requests)


def test_after_a_run_the_dialog_stays_on_the_screen_and_its_chart_scrolls(qtbot, window, engine):
    """Issue 31, item 4: the results grew the dialog to 982x902 at y=224 on a 1000-pixel
    screen, so the bottom of its chart could not be reached."""
    dialog = _open(window, qtbot)
    for box in dialog.configs.values():
        box.setChecked(True)
    dialog.move(dialog.screen().availableGeometry().topLeft() + dialog.rect().center())
    with qtbot.waitSignal(dialog.task.finished, timeout=20000):
        qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.report is not None, timeout=5000)
    qtbot.wait(50)  # the layout's pass after the results came in
    screen = dialog.screen().availableGeometry()
    assert screen.contains(dialog.frameGeometry()), (dialog.frameGeometry(), screen)
    # The whole chart can be reached: it lies in a scroll area that can show its last row.
    area = dialog.results
    assert area.widget().isAncestorOf(dialog.chart)
    bar = area.verticalScrollBar()
    assert bar.maximum() + area.viewport().height() >= area.widget().height()
