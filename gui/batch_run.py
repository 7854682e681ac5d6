"""The batches Tools > Batch / X-Y plot queued: each follows its jobs through the worker's
event stream, and once every job has ended its labelled grid is composed and saved on its
own thread (gui/tasks.py), so a large plot never stalls the window, then shown."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

from PySide6.QtCore import QObject, QSettings, Signal
from PySide6.QtWidgets import QWidget

from engine.batch.plan import BatchPlan
from engine.jobs import Cancelled, Failed, Finished
from gui.batch_dialog import BatchDialog
from gui.form import GenerationForm
from gui.notices import Notices
from gui.queue_panel import QueuePanel
from gui.tasks import Task, on_own_thread


class BatchRun(QObject):
    """One queued batch: which window jobs are its own, how each ended, and its grid.

    `grids_shown(paths)` once the grids are saved and open in the viewer;
    `over()` when nothing more will happen (grids shown, none to make, or saving failed).
    """

    grids_shown = Signal(list)
    over = Signal()

    def __init__(self, plan: BatchPlan, queue: QueuePanel, stored_path: Callable[[object], Optional[Path]],
                 notices: Notices, grids_dir: Path, parent: QWidget) -> None:
        """`stored_path(entry id)`: where the history keeps an image (the gallery's)."""
        super().__init__(parent)
        from engine.batch.output import BatchOutput
        self.plan = plan
        self.queue = queue
        self.stored_path = stored_path
        self.notices = notices
        self.parent_widget = parent  # the grid viewer's
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
        self.queue.worker.event.connect(self._on_event)
        self.queue.jobs_removed.connect(self._on_removed)
        ids = self.queue.enqueue([job.request for job in self.plan.jobs])
        self.jobs = {job_id: job for job_id, job in zip(ids, self.plan.jobs) if job_id is not None}
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
            paths = [self.stored_path(entry_id) for entry_id in event.entry_ids]
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

    def _job_ended(self) -> None:
        self._say()
        if self.jobs or self._stopped:
            return
        self.queue.worker.event.disconnect(self._on_event)
        self.queue.jobs_removed.disconnect(self._on_removed)
        if not self.plan.grids():
            self.over.emit()
            return
        self._task = Task()
        self._task.finished.connect(self._show_grids)
        self._task.failed.connect(self._grid_failed)
        self._thread = on_own_thread(self._task, "batch-grid", self._grid_work())

    def _say(self) -> None:
        self.notices.status(f"Batch: {self.ended} of {len(self.plan.jobs)} job(s) done", 10_000)

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
            self.notices.status("The batch made no image, so no grid.", 10_000)
        elif not self._stopped:
            self.viewer = ImageViewer(lambda: len(self.grid_paths),
                                      lambda row: (self.grid_paths[row], self.grid_paths[row].stem)
                                      if 0 <= row < len(self.grid_paths) else None,
                                      0, self.parent_widget)
            self.viewer.show()
            self.notices.status(f"Grid saved to {paths[0].parent}; \"X/Y grids\" under the "
                                "gallery opens it again.", 10_000)
        self.grids_shown.emit(self.grid_paths)
        self.over.emit()

    def _grid_failed(self, message: str) -> None:
        self.notices.error("Grid not saved", f"{self.grids_dir}: {message}")
        self.over.emit()

    def stop(self, timeout_ms: int = 30_000) -> None:
        """For closing the window: no grid is started any more; one being saved finishes."""
        self._stopped = True
        if self._thread is not None:
            self._thread.wait(timeout_ms)


class Batches(QObject):
    """Tools > Batch / X-Y plot: the dialog over the form's current settings, and each
    batch it queued, kept until the window closes."""

    grids_saved = Signal(list)  # any batch's grids, once saved (BatchRun.grids_shown)

    def __init__(self, form: GenerationForm, queue: QueuePanel, stored_path: Callable[[object], Optional[Path]],
                 notices: Notices, settings: QSettings, grids_dir: Optional[Path], parent: QWidget) -> None:
        """`grids_dir`: where the grids go; None for the history's own grids folder."""
        super().__init__(parent)
        self.form = form
        self.queue = queue
        self.stored_path = stored_path
        self.notices = notices
        self.settings = settings
        self.grids_dir = grids_dir
        self.parent_widget = parent
        self.dialog: Optional[BatchDialog] = None
        self.runs: list[BatchRun] = []

    def open(self) -> BatchDialog:
        form = self.form
        self.dialog = BatchDialog(form.request(), self.parent_widget,
                                  new_seed=None if form.seed.locked else form.seed.randomize,
                                  settings=self.settings)
        grids_dir = self.grids_folder()
        self.dialog.planned.connect(lambda plan: self._start(plan, grids_dir))
        self.dialog.open()
        return self.dialog

    def _start(self, plan: BatchPlan, grids_dir: Path) -> None:
        run = BatchRun(plan, self.queue, self.stored_path, self.notices, grids_dir, self.parent_widget)
        run.grids_shown.connect(self.grids_saved)
        self.runs.append(run.start())

    def grids_folder(self) -> Path:
        """Where the grids go: the services' folder, else the history's own."""
        from engine.paths import history_location
        return self.grids_dir or history_location().grids_dir

    def stop(self) -> None:
        """For closing the window (BatchRun.stop)."""
        for run in self.runs:
            run.stop()
