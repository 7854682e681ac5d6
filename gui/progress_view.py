"""The middle of the window: the big image (the running job's live preview, its result, or
the image chosen in the gallery), the job's phase and its progress bar. It follows the
running job through the worker's events and says when each job is over."""
from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Signal
from PySide6.QtGui import QImage, QPainter, QPixmap
from PySide6.QtWidgets import QLabel, QProgressBar, QStackedWidget, QVBoxLayout, QWidget

from engine.durations import format_duration
from engine.jobs import Cancelled, Failed, Finished, JobProgress, Started
from gui.notices import Notices
from gui.preview_label import PreviewLabel


class ProgressView(QWidget):
    # After the view has shown a job's end: tests and the self-test wait on this, not on
    # the worker's signals, whose other receivers may not have run yet.
    job_over = Signal(int, str)  # job id, "finished" / "failed" / "cancelled"
    busy_changed = Signal(bool)  # a job started running, or the running one ended
    job_finished = Signal(object)  # engine.jobs.Finished, once shown and before job_over

    def __init__(self, worker, notices: Notices, parent: Optional[QWidget] = None) -> None:
        """`worker`: the gui.worker.GenerationWorker whose events it follows."""
        super().__init__(parent)
        self.notices = notices
        self.current_job: Optional[int] = None  # the running job, as far as the window has heard
        self._setup: Optional[QWidget] = None
        self._setup_needed = False
        self.preview = PreviewLabel("Your image appears here.\n\nWrite a prompt and press Ctrl+Enter.")
        self.preview.setObjectName("preview")
        self.preview.setMinimumSize(256, 256)
        self.phase = QLabel("Idle")
        self.phase.setObjectName("phase")
        self.bar = QProgressBar()
        self.bar.setObjectName("progress")
        self.bar.setTextVisible(False)
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.preview)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.stack, 1)
        layout.addWidget(self.phase)
        layout.addWidget(self.bar)
        # A bound method: a lambda connected to the worker's signal would run on the worker thread.
        worker.event.connect(self._on_event)

    @property
    def busy(self) -> bool:
        return self.current_job is not None

    # ---- what the big view shows ---------------------------------------------------------

    def set_setup_page(self, page: QWidget) -> None:
        """The page shown instead of the preview while the chosen model cannot run (the
        first-run panel)."""
        self._setup = page
        self.stack.addWidget(page)

    def show_setup(self, needed: bool) -> None:
        self._setup_needed = needed
        self.stack.setCurrentWidget(self._setup if needed and self._setup is not None else self.preview)

    def show_still(self, pixmap: QPixmap) -> None:
        """The image chosen in the gallery, until the next job's live preview."""
        if not self.busy:
            self.stack.setCurrentWidget(self.preview)
            self.preview.set_image(pixmap)

    def say_cancelling(self) -> None:
        self.phase.setText("Cancelling after this step\u2026")

    # ---- the running job -----------------------------------------------------------------

    def _on_event(self, event, images: list) -> None:
        if isinstance(event, Started):
            self._on_started(event.job_id)
        elif isinstance(event, JobProgress):
            self._on_progress(event, images)
        elif isinstance(event, Finished):
            self._on_finished(event, images)
        elif isinstance(event, Failed):
            self._on_failed(event.job_id, event.title, event.message)
        elif isinstance(event, Cancelled):
            self._on_cancelled(event.job_id)

    def _on_started(self, job_id: int) -> None:
        self.current_job = job_id
        self.phase.setText("Starting\u2026")
        self.bar.setRange(0, 0)
        if self.stack.currentWidget() is not self.preview:
            self.stack.setCurrentWidget(self.preview)
        self.busy_changed.emit(True)

    def _on_progress(self, p: JobProgress, images: list) -> None:
        if p.job_id != self.current_job:
            return
        if images:
            self.preview.set_image(QPixmap.fromImage(images[0]))
        self.phase.setText(p.describe())
        if p.phase == "denoising" and p.total:
            self.bar.setRange(0, p.total)
            self.bar.setValue(p.step)
        elif p.phase in ("decoding", "saving"):
            self.bar.setRange(0, max(1, p.total))
            self.bar.setValue(p.total)
        else:
            self.bar.setRange(0, 0)  # busy: loading and encoding have no steps

    def _job_ended(self, text: str) -> None:
        self.current_job = None
        self.phase.setText(text)
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.busy_changed.emit(False)
        self.show_setup(self._setup_needed)

    def _on_finished(self, outcome: Finished, images: list) -> None:
        if images:
            self.preview.set_image(QPixmap.fromImage(images[0]) if len(images) == 1
                                   else QPixmap.fromImage(_tile(images)))
        n = len(images)
        self._job_ended(f"Done: {n} image{'s' if n != 1 else ''} in {format_duration(outcome.seconds)}")
        self.bar.setRange(0, 1)
        self.bar.setValue(1)
        self.job_finished.emit(outcome)
        self.job_over.emit(outcome.job_id, "finished")

    def _on_failed(self, job_id: int, title: str, message: str) -> None:
        self.notices.error(title, message)
        if job_id == self.current_job:
            self._job_ended(f"Failed: {title}")
        self.job_over.emit(job_id, "failed")

    def _on_cancelled(self, job_id: int) -> None:
        if job_id == self.current_job:
            self._job_ended("Cancelled")
            self.preview.set_image(None)  # not the blurry partial image, as if it were a result
        self.job_over.emit(job_id, "cancelled")


def _tile(images: list[QImage]) -> QImage:
    width = sum(i.width() for i in images)
    height = max(i.height() for i in images)
    out = QImage(width, height, QImage.Format.Format_RGB888)
    painter = QPainter(out)
    x = 0
    for image in images:
        painter.drawImage(x, 0, image)
        x += image.width()
    painter.end()
    return out
