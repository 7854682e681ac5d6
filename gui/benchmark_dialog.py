"""Benchmark dialog: engine.benchmark run on the generation worker's thread.

The benchmark's task object is moved to the worker's own QThread, so it uses the
engine the app already loaded (Keras keeps its dtype policy per thread) and
never runs at the same time as a generation: the thread runs one at a time.
Cancel goes through a CancelToken, checked between steps, as for generations.
"""
from __future__ import annotations

import io
import logging
from typing import Optional

from PySide6.QtCore import QPoint, QSize, Qt, Slot
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QFileDialog, QFormLayout,
                               QHBoxLayout, QLabel, QProgressBar, QPushButton, QScrollArea,
                               QSpinBox, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from engine.benchmark.settings import CONFIGS, BenchmarkSettings
from engine.events import CancelToken
from engine.request import BATCH_RANGE, STEPS_RANGE
from gui.tasks import Task

log = logging.getLogger(__name__)

SIZES = (128, 256, 384, 512)


def benchmark_work(worker, settings: BenchmarkSettings):
    """The benchmark as a Task's work, run on the worker's thread: (report dict, chart PNG)."""
    def work(on_progress, cancel: CancelToken):
        from engine.benchmark import chart, runner
        engine = None
        try:
            if settings.random_weights:
                shared = worker.engine
                if shared is not None:
                    shared.release()  # one Stable Diffusion in memory at a time
                from engine.pipeline import Engine
                engine = Engine(random_weights=True)
            else:
                if worker.engine is None:
                    worker.load_engine()  # a slot of the worker, on this same thread
                engine = worker.engine
                if engine is None:
                    raise RuntimeError("The engine could not be loaded.")
            report = runner.run(settings, engine, on_progress=on_progress, cancel=cancel)
            png = io.BytesIO()
            chart.draw(report).save(png, format="PNG")
            return report, png.getvalue()
        finally:
            if settings.random_weights and engine is not None:
                engine.release()
    return work


class BenchmarkDialog(QDialog):

    def __init__(self, worker, models: list, parent: Optional[QWidget] = None,
                 preferred: str = "") -> None:
        """`models`: the window's ModelInfo list; the preferred one is chosen if usable,
        else the first that is installed."""
        super().__init__(parent)
        self.setObjectName("benchmarkDialog")
        self.setWindowTitle("Benchmark")
        self.report: Optional[dict] = None
        self.png = b""
        from engine.benchmark.runner import BenchmarkCancelled
        self._worker = worker
        # On the worker's thread: the engine the app loaded, and never beside a generation.
        self.task = Task(cancelled_by=(BenchmarkCancelled,))
        self.task.moveToThread(worker.thread())
        self.task.progress.connect(self._on_progress)
        self.task.finished.connect(self._on_finished)
        self.task.failed.connect(self._on_failed)
        self.task.cancelled.connect(self._on_cancelled)

        self.model = QComboBox()
        for info in models:
            self.model.addItem(info.label if info.usable else f"{info.label} (not installed)", info.id)
        usable = [info.id for info in models if info.usable]
        first = preferred if preferred in usable else (usable[0] if usable else "")
        if first:
            self.model.setCurrentIndex(self.model.findData(first))
        self.size = QComboBox()
        for side in SIZES:
            self.size.addItem(f"{side} x {side}", side)
        self.steps = _spin(*STEPS_RANGE, 5)
        self.batch = _spin(*BATCH_RANGE, 1)
        self.runs = _spin(1, 20, 2)
        self.configs = {name: QCheckBox(name) for name in CONFIGS}
        self.configs["standard"].setChecked(True)
        self.random_weights = QCheckBox("Random weights (no download; real timings, "
                                        "meaningless images)")
        self.compare = QCheckBox("Also time KerasCV's own loop (Stable Diffusion only)")
        self.compare.setChecked(True)
        tutorial = QPushButton("Tutorial settings")
        tutorial.setToolTip("Batch 3, 50 steps, 512 x 512, all four configurations "
                            "(slow without a GPU)")
        tutorial.clicked.connect(self.use_tutorial_settings)

        form = QFormLayout()
        form.addRow("Model", self.model)
        form.addRow("Size", self.size)
        form.addRow("Steps", self.steps)
        form.addRow("Batch", self.batch)
        form.addRow("Timed runs", self.runs)
        boxes = QHBoxLayout()
        for box in self.configs.values():
            boxes.addWidget(box)
        form.addRow("Configurations", boxes)
        form.addRow("", self.random_weights)
        form.addRow("", self.compare)

        self.run_button = QPushButton("Run")
        self.run_button.setObjectName("runBenchmark")
        self.run_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.save_button = QPushButton("Save JSON\u2026")
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self.save_json)
        close_button = QPushButton("Close")
        close_button.setObjectName("closeBenchmark")
        close_button.clicked.connect(self.close)
        buttons = QHBoxLayout()
        for button in (tutorial, self.run_button, self.cancel_button, self.save_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(close_button)
        self.progress_bar = QProgressBar()
        self.status = QLabel("Pick settings and press Run. Other generations wait meanwhile.")
        self.status.setWordWrap(True)
        self.table = QTableWidget(0, 0)
        self.table.setObjectName("benchmarkTable")
        self.chart = QLabel()
        self.chart.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        # The results scroll, so the dialog need not grow past the screen to show them: a
        # run once made it 982x902 at y=224 on a 1000-pixel screen, its chart out of reach.
        results = QWidget()
        column = QVBoxLayout(results)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.table)
        column.addWidget(self.chart)
        column.addWidget(self.details)
        self.results = QScrollArea()
        self.results.setObjectName("benchmarkResults")
        self.results.setWidgetResizable(True)
        self.results.setFrameShape(QScrollArea.Shape.NoFrame)
        self.results.setWidget(results)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.status)
        layout.addWidget(self.results, 1)

    def closeEvent(self, event) -> None:
        if self.cancel_button.isEnabled():  # closing a running benchmark stops it
            self.cancel()
        super().closeEvent(event)

    def use_tutorial_settings(self) -> None:
        d = BenchmarkSettings()
        self.size.setCurrentIndex(SIZES.index(d.width))
        self.steps.setValue(d.steps)
        self.batch.setValue(d.batch)
        self.runs.setValue(d.runs)
        for box in self.configs.values():
            box.setChecked(True)

    def settings(self) -> BenchmarkSettings:
        side = self.size.currentData()
        return BenchmarkSettings(
            model=self.model.currentData() or "", batch=self.batch.value(), steps=self.steps.value(),
            width=side, height=side, runs=self.runs.value(),
            configs=tuple(n for n, box in self.configs.items() if box.isChecked()),
            random_weights=self.random_weights.isChecked(), compare=self.compare.isChecked())

    def start(self) -> None:
        settings = self.settings()
        problems = settings.problems()
        if problems:
            self.status.setText("\n".join(problems))
            return
        self._running(True)
        self.status.setText("Waiting for the worker\u2026")
        self.task.start(benchmark_work(self._worker, settings))

    def cancel(self) -> None:
        self.task.token.cancel()
        self.status.setText("Cancelling after the current step\u2026")

    def save_json(self, path: Optional[str] = None) -> None:
        from engine.benchmark.report import write_json
        if self.report is None:
            return
        if not path:
            path, _ = QFileDialog.getSaveFileName(self, "Save benchmark", "benchmark.json",
                                                  "JSON (*.json)")
        if path:
            write_json(self.report, path)

    def _running(self, on: bool) -> None:
        self.run_button.setEnabled(not on)
        self.cancel_button.setEnabled(on)

    @Slot(object)
    def _on_progress(self, p) -> None:
        self.progress_bar.setRange(0, max(p.total, 1))
        self.progress_bar.setValue(p.done)
        step = ""
        if p.step is not None and p.step.phase == "denoising":
            step = f" \u2014 step {p.step.step} of {p.step.total}"
        elif p.step is not None:
            step = f" \u2014 {p.step.phase}"
        self.status.setText(f"{p.message}{step}")

    @Slot(object)
    def _on_finished(self, result: tuple) -> None:
        from engine.benchmark import report as text
        report, png = result
        self._running(False)
        self.report, self.png = report, png
        self.save_button.setEnabled(True)
        self.status.setText(text.header(report))
        self._fill_table(report)
        pixmap = QPixmap()
        pixmap.loadFromData(png, "PNG")
        self.chart.setPixmap(pixmap)
        self.details.setText(text.comparison(report))
        self.fit_to_screen()

    def fit_to_screen(self) -> None:
        """Grows to show the results, as far as the screen's free area allows, and moves
        back onto it; what does not fit scrolls."""
        self.layout().activate()
        results = self.results.widget().sizeHint()
        shown = self.results.viewport().size()
        now = self.geometry().size()  # not self.size(): that is the Size box
        wanted = now + QSize(max(0, results.width() - shown.width()),
                                     max(0, results.height() - shown.height()))
        screen = self.screen().availableGeometry()
        frame = self.frameGeometry().size() - now  # the title bar and borders
        most = screen.size() - frame
        self.resize(wanted.boundedTo(most).expandedTo(self.minimumSizeHint().boundedTo(most)))
        box = self.frameGeometry()
        x = min(max(box.x(), screen.x()), screen.right() + 1 - box.width())
        y = min(max(box.y(), screen.y()), screen.bottom() + 1 - box.height())
        self.move(QPoint(x, y) + (self.pos() - box.topLeft()))

    def _fill_table(self, report: dict) -> None:
        from engine.benchmark.report import table_rows
        header, rows = table_rows(report)
        self.table.setColumnCount(len(header))
        self.table.setHorizontalHeaderLabels(header)
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                self.table.setItem(r, c, QTableWidgetItem(value))
        self.table.resizeColumnsToContents()

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self._running(False)
        self.status.setText(f"Benchmark failed: {message}")

    @Slot()
    def _on_cancelled(self) -> None:
        self._running(False)
        self.status.setText("Cancelled.")

    def done(self, result: int) -> None:
        self.task.token.cancel()  # closing the dialog stops the run at the next step
        super().done(result)


def _spin(low: int, high: int, value: int) -> QSpinBox:
    box = QSpinBox()
    box.setRange(low, high)
    box.setValue(value)
    return box
