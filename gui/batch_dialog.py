"""Tools > Batch / X-Y plot: prompts and up to two grid axes, made into jobs on the window's
queue exactly as `python main.py batch` makes them (engine.batch), and the labelled grid
saved and shown once every job of the batch has ended.

The dialog only gathers text: engine.batch parses it and words every problem. A BatchRun
follows the batch's jobs through the worker's event stream; the grid is composed and saved
on its own thread (gui/tasks.py), so a large plot never stalls the window.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFileDialog, QGridLayout,
                               QHBoxLayout, QLabel, QLineEdit, QPlainTextEdit, QPushButton,
                               QVBoxLayout, QWidget)

from engine.batch import BatchError
from engine.batch.axes import AXIS_NAMES, parse_axes
from engine.batch.plan import BatchPlan, plan_batch
from engine.batch.prompts import parse_prompts, read_prompt_file
from engine.jobs import Cancelled, Failed, Finished
from engine.request import GenerationRequest
from gui.folders import remember_folder, start_folder
from gui.tasks import Task, on_own_thread

if TYPE_CHECKING:
    from gui.mainwindow import MainWindow

log = logging.getLogger(__name__)

NO_AXIS = ""
AXIS_TITLES = ("Columns (X)", "Rows (Y)")  # the grid's first axis heads its columns
PROMPTS_SOURCE = "the prompt list"
VALUE_HINTS = {"steps": "10,20,30", "guidance": "5,7.5,10", "seed": "1,2,3",
               "size": "512x512,512x768", "sampler": "DDIM,Euler a", "prompt": "cat,dog,fox"}


class BatchDialog(QDialog):
    """`base` is the form's request; every job starts from it. `new_seed` (the form's dice,
    when its seed is unlocked) draws the batch's seed on Queue, as Generate would."""

    planned = Signal(object)  # the BatchPlan, once the person presses Queue

    def __init__(self, base: GenerationRequest, parent: Optional[QWidget] = None,
                 new_seed: Optional[Callable[[], int]] = None,
                 settings=None) -> None:
        super().__init__(parent)
        self.setObjectName("batchDialog")
        self.setWindowTitle("Batch / X-Y plot")
        self.base = base
        self._new_seed = new_seed
        self._settings = settings
        self.plan: Optional[BatchPlan] = None

        self.prompts = QPlainTextEdit(base.prompt)
        self.prompts.setObjectName("batchPrompts")
        self.prompts.setPlaceholderText("One prompt per line; lines starting with # are comments.")
        self.prompts.setTabChangesFocus(True)  # a typed tab would be a control character
        self.load_button = QPushButton("Load Prompt File\u2026")
        self.load_button.setObjectName("loadPrompts")
        self.axes: list[tuple[QComboBox, QLineEdit]] = []
        axes_grid = QGridLayout()
        for row, title in enumerate(AXIS_TITLES):
            name = QComboBox()
            name.setObjectName(f"axisName{row}")
            name.addItem("(none)", NO_AXIS)
            for axis in AXIS_NAMES:
                name.addItem(axis, axis)
            values = QLineEdit()
            values.setObjectName(f"axisValues{row}")
            values.setPlaceholderText("V1,V2,...")
            name.currentIndexChanged.connect(lambda _i, n=name, v=values: self._axis_chosen(n, v))
            values.textChanged.connect(self.check)
            axes_grid.addWidget(QLabel(title), row, 0)
            axes_grid.addWidget(name, row, 1)
            axes_grid.addWidget(values, row, 2)
            self.axes.append((name, values))
        axes_grid.setColumnStretch(2, 1)
        self.problems = QLabel()
        self.problems.setObjectName("batchProblems")
        self.problems.setProperty("role", "fieldError")
        self.problems.setWordWrap(True)
        self.summary = QLabel()
        self.summary.setObjectName("batchSummary")
        self.summary.setProperty("role", "hint")
        self.summary.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.queue_button = self.buttons.addButton("Queue", QDialogButtonBox.ButtonRole.AcceptRole)
        self.queue_button.setObjectName("queueBatch")

        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        top.addWidget(QLabel("Prompts"), 1)
        top.addWidget(self.load_button)
        layout.addLayout(top)
        layout.addWidget(self.prompts, 1)
        layout.addLayout(axes_grid)
        note = QLabel("Other settings come from the form. Values are separated by commas; "
                      "quote a value that holds one.")
        note.setProperty("role", "hint")
        note.setWordWrap(True)
        layout.addWidget(note)
        layout.addWidget(self.problems)
        layout.addWidget(self.summary)
        layout.addWidget(self.buttons)
        self.prompts.textChanged.connect(self.check)
        self.load_button.clicked.connect(self.choose_prompt_file)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.resize(620, 520)
        self.check()

    # ---- reading the form ------------------------------------------------------------

    def set_axis(self, row: int, name: str, values: str) -> None:
        combo, edit = self.axes[row]
        combo.setCurrentIndex(combo.findData(name))
        edit.setText(values)

    def axis_specs(self) -> list[str]:
        """What the CLI's `--grid` options would say."""
        return [f"{combo.currentData()}={edit.text()}" for combo, edit in self.axes
                if combo.currentData() != NO_AXIS]

    def build(self, base: GenerationRequest) -> BatchPlan:
        """The CLI's order: every prompt and axis problem at once, then the plan's own."""
        problems, prompts, axes = [], [], []
        for step in (lambda: prompts.extend(parse_prompts(self.prompts.toPlainText(),
                                                          PROMPTS_SOURCE)),
                     lambda: axes.extend(parse_axes(self.axis_specs()))):
            try:
                step()
            except BatchError as error:
                problems.extend(error.problems)
        if problems:
            raise BatchError(problems)
        return plan_batch(prompts, axes, base.replace(prompt=prompts[0].text))

    def check(self) -> Optional[BatchPlan]:
        """Shows the problems, or what Queue will add; Queue is enabled only for a sound batch."""
        try:
            plan = self.build(self.base)
        except BatchError as error:
            self.problems.setText("\n".join(error.problems))
            self.problems.setVisible(True)
            self.summary.setVisible(False)
            self.queue_button.setEnabled(False)
            return None
        self.problems.setVisible(False)
        grids = len(plan.grids())
        self.summary.setText(f"{len(plan.jobs)} job{'s' if len(plan.jobs) != 1 else ''}, "
                             f"{plan.images} image{'s' if plan.images != 1 else ''}"
                             + (f", {grids} grid{'s' if grids != 1 else ''}" if grids else ""))
        self.summary.setVisible(True)
        self.queue_button.setEnabled(True)
        return plan

    def _axis_chosen(self, combo: QComboBox, edit: QLineEdit) -> None:
        name = combo.currentData()
        hint = VALUE_HINTS.get(name, "V1,V2,...")
        if name == "model":
            from engine.models.registry import all_model_ids
            hint = ",".join(all_model_ids())
        edit.setPlaceholderText(hint)
        self.check()

    def choose_prompt_file(self) -> None:
        start = start_folder(self._settings) if self._settings is not None else ""
        chosen, _ = QFileDialog.getOpenFileName(self, "Open a prompt file", start,
                                                "Text files (*.txt);;All files (*)")
        if chosen:
            if self._settings is not None:
                remember_folder(self._settings, Path(chosen).parent)
            self.load_prompt_file(Path(chosen))

    def load_prompt_file(self, path: Path) -> bool:
        """The file's text into the list, comments and all; its problems named, the list kept."""
        try:
            read_prompt_file(path)  # the file's own rules (readable, UTF-8) and messages
        except BatchError as error:
            self.problems.setText("\n".join(error.problems))
            self.problems.setVisible(True)
            return False
        self.prompts.setPlainText(Path(path).read_text(encoding="utf-8-sig"))
        return True

    # ---- queueing --------------------------------------------------------------------

    def accept(self) -> None:
        if self.check() is None:
            return
        base = self.base
        if self._new_seed is not None:
            base = base.replace(seed=self._new_seed())
        try:
            self.plan = self.build(base)
        except BatchError as error:  # a fresh seed is always valid; kept for safety's sake
            self.problems.setText("\n".join(error.problems))
            self.problems.setVisible(True)
            return
        self.planned.emit(self.plan)
        super().accept()


class BatchRun(QObject):
    """One queued batch: which window jobs are its own, how each ended, and its grid.

    `grids_shown(paths)` once the grids are saved and open in the viewer;
    `over()` when nothing more will happen (grids shown, none to make, or saving failed).
    """

    grids_shown = Signal(list)
    over = Signal()

    def __init__(self, plan: BatchPlan, window: "MainWindow", grids_dir: Path) -> None:
        super().__init__(window)
        from engine.batch.output import BatchOutput
        self.plan = plan
        self.window = window
        self.grids_dir = Path(grids_dir)
        # The history keeps the images; the output folder receives only the grids (and a
        # cell's image when there is no history to take it from).
        self.output = BatchOutput(plan, self.grids_dir)
        self.jobs: dict[int, object] = {}  # window job id -> BatchJob, while it has not ended
        self._results: dict[str, object] = {}  # BatchJob id -> result the history did not keep
        self.grid_paths: list[Path] = []
        self.viewer = None
        self._task: Optional[Task] = None
        self._thread = None
        self._stopped = False

    def start(self) -> "BatchRun":
        # Subscribed before queueing: a job's end cannot overtake its id (both reach us
        # through this thread's event loop, after this method returns).
        self.window.worker.event.connect(self._on_event)
        self.window.jobs_removed.connect(self._on_removed)
        ids = self.window.enqueue([job.request for job in self.plan.jobs])
        self.jobs = dict(zip(ids, self.plan.jobs))
        self._say()
        return self

    @property
    def ended(self) -> int:
        return len(self.plan.jobs) - len(self.jobs)

    def _on_event(self, event, _images: list) -> None:
        job = self.jobs.get(getattr(event, "job_id", None))
        if job is None:
            return
        if isinstance(event, Finished):
            paths = [self._path_of(entry_id) for entry_id in event.entry_ids]
            if paths and all(paths):
                self.output.record(job, paths, event.result.model_label)
            else:  # no history, or it could not keep them: the grid's folder takes them
                self._results[job.id] = event.result
        elif isinstance(event, Failed):
            self.output.fail(job, event.message)
        elif isinstance(event, Cancelled):
            if event.interrupted:  # still queued, for the next start: no longer this run's
                return
            self.output.fail(job, "Cancelled.")
        else:
            return
        del self.jobs[event.job_id]
        self._job_ended()

    def _on_removed(self, job_ids: list) -> None:
        mine = [self.jobs.pop(job_id) for job_id in job_ids if job_id in self.jobs]
        for job in mine:
            self.output.fail(job, "Removed from the queue.")
        if mine:
            self._job_ended()

    def _path_of(self, entry_id) -> Optional[Path]:
        store = self.window.store
        entry = store.get(entry_id) if store is not None else None
        return Path(entry.path) if entry is not None else None

    def _job_ended(self) -> None:
        self._say()
        if self.jobs or self._stopped:
            return
        self.window.worker.event.disconnect(self._on_event)
        self.window.jobs_removed.disconnect(self._on_removed)
        if not self.plan.grids():
            self.over.emit()
            return
        self._task = Task()
        self._task.finished.connect(self._show_grids)
        self._task.failed.connect(self._grid_failed)
        self._thread = on_own_thread(self._task, "batch-grid", self._grid_work())

    def _say(self) -> None:
        self.window.statusBar().showMessage(
            f"Batch: {self.ended} of {len(self.plan.jobs)} job(s) done", 10_000)

    def _grid_work(self):
        output, results, folder = self.output, dict(self._results), self.grids_dir
        by_id = {job.id: job for job in self.plan.jobs}

        def work(_on_progress, _cancel) -> list[Path]:
            folder.mkdir(parents=True, exist_ok=True)
            for job_id, result in results.items():
                output.accept(by_id[job_id], result)
            return output.save_grids()
        return work

    def _show_grids(self, paths: list) -> None:
        from gui.viewer import ImageViewer
        self._results.clear()
        self.grid_paths = list(paths)
        if not paths:
            self.window.statusBar().showMessage("The batch made no image, so no grid.", 10_000)
        elif not self._stopped:
            self.viewer = ImageViewer(lambda: len(self.grid_paths),
                                      lambda row: (self.grid_paths[row], self.grid_paths[row].stem)
                                      if 0 <= row < len(self.grid_paths) else None,
                                      0, self.window)
            self.viewer.show()
            self.window.statusBar().showMessage(f"Grid saved to {paths[0].parent}", 10_000)
        self.grids_shown.emit(self.grid_paths)
        self.over.emit()

    def _grid_failed(self, message: str) -> None:
        self.window.show_error("Grid not saved", f"{self.grids_dir}: {message}")
        self.over.emit()

    def stop(self, timeout_ms: int = 30_000) -> None:
        """For closing the window: no grid is started any more; one being saved finishes."""
        self._stopped = True
        if self._thread is not None:
            self._thread.wait(timeout_ms)


def open_batch_dialog(window: "MainWindow") -> BatchDialog:
    """The dialog over the form's current settings; on Queue, a BatchRun the window keeps."""
    from engine.paths import history_location
    form = window.form
    dialog = BatchDialog(form.request(), window,
                         new_seed=None if form.seed.locked else form.seed.randomize,
                         settings=window.settings)
    grids_dir = window.services.grids_dir or history_location().grids_dir
    dialog.planned.connect(lambda plan: window.batch_runs.append(
        BatchRun(plan, window, grids_dir).start()))
    dialog.open()
    return dialog
