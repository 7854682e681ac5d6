"""The window's adapter onto engine.jobs: one QObject on one long-lived QThread runs the Runner.

Like dangerzone's ConvertTask, it only turns the engine's event stream into one
Qt signal. Images for the window (previews, results) are made here, on the
worker thread, as QImages: QImage is thread-safe, QPixmap is not.

The engine call blocks, so while a job runs this thread's event loop does not:
whatever the GUI does meanwhile (queue more, remove, reorder, pause, cancel) goes
through the thread-safe JobQueue and Runner, never through a queued slot here.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Optional

import numpy as np
from PySide6.QtCore import QMetaObject, QObject, Qt, Signal, Slot
from PySide6.QtGui import QImage

from engine.jobs import Finished, JobEvent, JobProgress, JobQueue, Runner
from gui.threads import managed_thread

log = logging.getLogger(__name__)


def preview_to_qimage(pixels: np.ndarray) -> QImage:
    """Tiles a (B, h, w, 3) batch side by side."""
    if pixels.ndim == 3:
        pixels = pixels[None]
    tiled = np.ascontiguousarray(np.concatenate(list(pixels), axis=1), dtype=np.uint8)
    h, w, _ = tiled.shape
    # copy(): the QImage must own its bytes once the numpy array goes away.
    return QImage(tiled.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


class GenerationWorker(QObject):
    """`event(job event, images)`: every event of the queue and runner (engine.jobs.events),
    with the QImages a preview or a finished job brings ([] otherwise).

    Emitted on the thread that caused the event: connect it to a method of a
    GUI-thread QObject (never a lambda), so Qt queues it to the GUI thread.
    """

    event = Signal(object, list)
    _wake = Signal()

    def __init__(self, engine_factory: Callable[[], Any],
                 history_factory: Optional[Callable[[], Any]] = None,
                 queue: Optional[JobQueue] = None) -> None:
        super().__init__()
        # Both factories are called on the worker thread: Keras keeps its dtype
        # policy per thread, and SQLite wants one connection per thread.
        self.queue = queue if queue is not None else JobQueue()
        self.runner = Runner(self.queue, engine_factory, history_factory)
        self.queue.subscribe(self._forward)
        # The models whose tokenizers load with the engine; the window may set them until
        # load_engine runs (it is queued once the window has shown).
        self.warm_models: tuple[str, ...] = ()
        self._wake.connect(self._drain, Qt.ConnectionType.QueuedConnection)

    def _forward(self, event: JobEvent) -> None:
        images: list = []
        if isinstance(event, JobProgress) and event.preview is not None:
            images = [preview_to_qimage(event.preview)]
        elif isinstance(event, Finished) and event.result is not None:
            images = [preview_to_qimage(image.pixels) for image in event.result.images]
        self.event.emit(event, images)

    # ---- any thread -----------------------------------------------------------------

    @property
    def engine(self):
        return self.runner.engine

    def wake(self) -> None:
        """Runs what is pending, after the running job if there is one."""
        self._wake.emit()

    # ---- worker thread --------------------------------------------------------------

    @Slot()
    def load_engine(self) -> None:
        if self.runner.stopping or self.runner.engine is not None:
            return
        engine = self.runner.load_engine()
        # Tokenizers load lazily (a vocabulary file to parse): load them here, so the
        # window's first live token count is already cheap.
        for model_id in self.warm_models if engine is not None else ():
            try:
                engine.count_tokens(model_id, "")
            except Exception:  # noqa: BLE001 - a missing vocabulary only hides the count
                log.info("no tokenizer for %s yet", model_id)

    @Slot()
    def _drain(self) -> None:
        self.runner.run_pending()

    @Slot()
    def _close_on_thread(self) -> None:
        """Releases the engine and the store on the thread that made them."""
        self.runner.close()
        # Quitting from here, not from the GUI thread, guarantees the clean-up above ran first.
        self.thread().quit()


class WorkerHost(QObject):
    """Owns the worker's QThread: starts it, and stops it without hanging on exit."""

    def __init__(self, worker: GenerationWorker, load_engine_now: bool = True,
                 parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self.worker = worker
        self.thread = managed_thread("generation-worker")
        worker.moveToThread(self.thread)
        if load_engine_now:
            # The import of TensorFlow happens here, on the worker thread, after the window shows.
            self.thread.started.connect(worker.load_engine)
        self.thread.start()

    def shutdown(self, timeout_ms: int = 60_000, keep_jobs: bool = True) -> bool:
        """Stops the running job at its next step (it stays queued, interrupted; the waiting
        ones stay too, for the next start) and joins the thread."""
        if not self.thread.isRunning():
            return True
        self.worker.runner.stop(keep_jobs)
        # Queued behind the running job, so it runs once generate() has returned.
        QMetaObject.invokeMethod(self.worker, "_close_on_thread",
                                 Qt.ConnectionType.QueuedConnection)
        return self.thread.wait(timeout_ms)
