"""The generation worker: one QObject on one long-lived QThread owns the engine.

The engine call is blocking, so while it runs the worker thread's event loop is
not: anything the GUI must do during a generation (queue more jobs, remove or
reorder pending ones, cancel) goes through the lock-protected JobQueue and the
per-job CancelToken, never through a queued slot on the worker.
"""
from __future__ import annotations

import itertools
import logging
import statistics
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np
from PySide6.QtCore import QMetaObject, QObject, Qt, Signal, Slot
from PySide6.QtGui import QImage

from engine.events import (CancelToken, EngineError, InvalidRequest, MissingWeights,
                           OutOfMemory, Progress)
from engine.request import GenerationRequest
from gui.threads import managed_thread

log = logging.getLogger(__name__)

PENDING, RUNNING, DONE, FAILED, CANCELLED = "pending", "running", "done", "failed", "cancelled"


@dataclass
class Job:
    id: int
    request: GenerationRequest
    state: str = PENDING
    token: CancelToken = field(default_factory=CancelToken)


@dataclass(frozen=True)
class JobProgress:
    job_id: int
    phase: str  # loading, encoding, denoising, decoding, saving
    step: int
    total: int
    eta_seconds: Optional[float]  # None until a step has been measured

    def describe(self) -> str:
        if self.phase == "denoising":
            text = f"Step {self.step} of {self.total}"
        else:
            text = {"loading": "Loading model", "encoding": "Encoding prompt",
                    "decoding": "Decoding image", "saving": "Saving",
                    "queued": "Waiting in queue"}.get(self.phase, self.phase.capitalize())
        if self.eta_seconds is not None:
            text += f" \u2014 about {format_duration(self.eta_seconds)} left"
        return text


@dataclass(frozen=True)
class JobOutcome:
    job_id: int
    request: GenerationRequest
    result: Any  # engine GenerationResult
    entry_ids: list  # history ids of the saved images
    seconds: float  # start to saved, model load included
    images: list = field(default_factory=list)  # QImage per result image, made on the worker
    unsaved: str = ""  # why the history could not keep these images, when it could not


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class JobQueue(QObject):
    """Pending jobs, shared by the GUI thread (add, remove, reorder) and the worker (take).

    It stays on the GUI thread, so its signals reach GUI slots directly when the
    GUI changes the queue, and queued when the worker takes a job.
    """

    changed = Signal()
    added = Signal(int)  # job id
    removed = Signal(int)  # job id, taken out before it ran

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._pending: list[Job] = []
        self._ids = itertools.count(1)

    def add(self, request: GenerationRequest) -> Job:
        with self._lock:
            job = Job(next(self._ids), request)
            self._pending.append(job)
            return job

    def take(self) -> Optional[Job]:
        with self._lock:
            return self._pending.pop(0) if self._pending else None

    def remove(self, job_id: int) -> Optional[Job]:
        with self._lock:
            for i, job in enumerate(self._pending):
                if job.id == job_id:
                    return self._pending.pop(i)
        return None

    def move(self, job_id: int, delta: int) -> bool:
        with self._lock:
            ids = [j.id for j in self._pending]
            if job_id not in ids:
                return False
            i = ids.index(job_id)
            j = max(0, min(len(ids) - 1, i + delta))
            if i == j:
                return False
            self._pending.insert(j, self._pending.pop(i))
            return True

    def clear(self) -> list[Job]:
        with self._lock:
            dropped, self._pending = self._pending, []
            return dropped

    def snapshot(self) -> list[Job]:
        with self._lock:
            return list(self._pending)

    def __len__(self) -> int:
        with self._lock:
            return len(self._pending)


class EtaClock:
    """Time left from measured step times only: queue wait and model load never count.

    The first step is left out once there are others, because it carries one-off
    work (graph tracing, XLA compilation) that later steps do not repeat.
    """

    def __init__(self, decode_guess: Optional[float] = None) -> None:
        self.step_times: list[float] = []
        self.decode_guess = decode_guess

    def add(self, seconds: Optional[float]) -> None:
        if seconds is not None and seconds >= 0:
            self.step_times.append(seconds)

    def eta(self, step: int, total: int) -> Optional[float]:
        if not self.step_times:
            return None
        times = self.step_times[1:] if len(self.step_times) > 2 else self.step_times
        per_step = statistics.median(times[-10:])
        return per_step * max(0, total - step) + (self.decode_guess or 0.0)


def preview_to_qimage(pixels: np.ndarray) -> QImage:
    """Tiles a (B, h, w, 3) batch side by side. Runs on the worker: QImage is thread-safe, QPixmap is not."""
    if pixels.ndim == 3:
        pixels = pixels[None]
    tiled = np.ascontiguousarray(np.concatenate(list(pixels), axis=1), dtype=np.uint8)
    h, w, _ = tiled.shape
    # copy(): the QImage must own its bytes once the numpy array goes away.
    return QImage(tiled.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def describe_error(error: BaseException) -> tuple[str, str]:
    """(title, message) for the window; engine errors already carry a message for people."""
    if isinstance(error, InvalidRequest):
        return "Invalid request", str(error)
    if isinstance(error, MissingWeights):
        return "Missing model weights", str(error)
    if isinstance(error, (OutOfMemory, MemoryError)):
        return "Out of memory", str(error) or (
            "The computer ran out of memory. Try a smaller size, a batch of 1 or mixed precision.")
    if isinstance(error, EngineError):
        return "Generation failed", str(error)
    return "Unexpected error", f"{type(error).__name__}: {error}"


class GenerationWorker(QObject):
    """Its signals are emitted on the worker thread only. Connect them to methods of
    GUI-thread QObjects: PySide runs a plain function or lambda connected to them
    on the worker thread, where touching a widget is unsafe.
    Queue changes made from the GUI (add, remove, reorder) are signalled by `queue`.
    """

    engine_loading = Signal()
    engine_ready = Signal(str)  # device name
    engine_failed = Signal(str, str)  # title, message
    started = Signal(int)
    progress = Signal(object)  # JobProgress
    preview = Signal(int, QImage)
    finished = Signal(object)  # JobOutcome
    failed = Signal(int, str, str)  # job id, title, message
    cancelled = Signal(int)
    idle = Signal()

    _wake = Signal()

    def __init__(self, engine_factory: Callable[[], Any],
                 history_factory: Optional[Callable[[], Any]] = None,
                 warm_models: tuple[str, ...] = ()) -> None:
        super().__init__()
        # Both factories are called on the worker thread: Keras keeps its dtype
        # policy per thread, and SQLite wants one connection per thread.
        self._engine_factory = engine_factory
        self._history_factory = history_factory
        self._engine = None
        self._engine_error: Optional[BaseException] = None
        self._history = None
        self._warm_models = tuple(warm_models)
        self.queue = JobQueue()
        self._current: Optional[Job] = None
        self._current_lock = threading.Lock()
        self._closing = threading.Event()
        self._decode_seconds: dict[tuple, float] = {}
        self._wake.connect(self._drain, Qt.ConnectionType.QueuedConnection)

    # ---- called from the GUI thread -------------------------------------------------

    @property
    def engine(self):
        """The engine once loaded, for cheap thread-safe calls (token counts); else None."""
        return self._engine

    def submit(self, request: GenerationRequest) -> int:
        job = self.queue.add(request)
        self.queue.added.emit(job.id)
        self.queue.changed.emit()
        self._wake.emit()
        return job.id

    def current_job(self) -> Optional[Job]:
        with self._current_lock:
            return self._current

    def cancel(self, job_id: Optional[int] = None) -> bool:
        """Cancels the running job (job_id None or its id) or removes a pending one."""
        with self._current_lock:
            current = self._current
            if current is not None and job_id in (None, current.id):
                current.token.cancel()
                return True
        if job_id is not None:
            return self.remove(job_id)
        return False

    def remove(self, job_id: int) -> bool:
        job = self.queue.remove(job_id)
        if job is None:
            return False
        job.state = CANCELLED
        self.queue.removed.emit(job.id)
        self.queue.changed.emit()
        return True

    def move(self, job_id: int, delta: int) -> bool:
        moved = self.queue.move(job_id, delta)
        if moved:
            self.queue.changed.emit()
        return moved

    def stop(self) -> None:
        """Drops pending jobs and cancels the running one; the thread can then quit."""
        self._closing.set()
        for job in self.queue.clear():
            job.state = CANCELLED
        self.queue.changed.emit()
        self.cancel()

    # ---- worker thread ---------------------------------------------------------------

    @Slot()
    def load_engine(self) -> None:
        if self._engine is not None or self._closing.is_set():
            return
        self.engine_loading.emit()
        t0 = time.perf_counter()
        try:
            self._engine = self._engine_factory()
            device = self._engine.device_name()
        except BaseException as error:  # noqa: BLE001 - shown in the window, app goes on
            log.exception("engine failed to load")
            self._engine_error = error
            title, message = describe_error(error)
            self.engine_failed.emit("Engine unavailable", message)
            return
        # Tokenizers load lazily (a vocabulary file to parse): load them here, so
        # the GUI thread's first live token count is already cheap.
        for model_id in self._warm_models:
            try:
                self._engine.count_tokens(model_id, "")
            except Exception:  # noqa: BLE001 - a missing vocabulary only hides the count
                log.info("no tokenizer for %s yet", model_id)
        log.info("engine ready on %s in %.1f s", device, time.perf_counter() - t0)
        self.engine_ready.emit(device)

    @Slot()
    def _drain(self) -> None:
        while not self._closing.is_set():
            job = self.queue.take()
            if job is None:
                break
            self.queue.changed.emit()
            self._run(job)
        if not self._closing.is_set():
            self.idle.emit()

    def _run(self, job: Job) -> None:
        with self._current_lock:
            self._current = job
            job.state = RUNNING
        self.started.emit(job.id)
        started = time.perf_counter()
        try:
            if job.token.cancelled:
                job.state = CANCELLED
                self.cancelled.emit(job.id)
                return
            if self._engine is None:
                self.progress.emit(JobProgress(job.id, "loading", 0, job.request.steps, None))
                self.load_engine()
                if self._engine is None:
                    raise self._engine_error or EngineError("The engine could not be loaded.")
            size_key = (job.request.model, job.request.width, job.request.height, job.request.batch)
            clock = EtaClock(self._decode_seconds.get(size_key))
            result = self._engine.generate(
                job.request, on_progress=lambda p: self._on_progress(job, clock, p),
                cancel=job.token)
            if getattr(result, "cancelled", False) or job.token.cancelled:
                job.state = CANCELLED
                self.cancelled.emit(job.id)
                return
            decode = (getattr(result, "timings", None) or {}).get("decoding")
            if decode is not None:
                self._decode_seconds[size_key] = float(decode)
            self.progress.emit(JobProgress(job.id, "saving", job.request.steps,
                                           job.request.steps, None))
            entry_ids, unsaved = self._save(result)
            images = [preview_to_qimage(img.pixels) for img in result.images]
            job.state = DONE
            self.finished.emit(JobOutcome(job.id, job.request, result, entry_ids,
                                          time.perf_counter() - started, images, unsaved))
        except BaseException as error:  # noqa: BLE001 - the queue must go on
            if not isinstance(error, EngineError):
                log.error("job %s failed:\n%s", job.id, traceback.format_exc())
            job.state = FAILED
            title, message = describe_error(error)
            self.failed.emit(job.id, title, message)
        finally:
            with self._current_lock:
                self._current = None

    def _on_progress(self, job: Job, clock: EtaClock, p: Progress) -> None:
        if p.phase == "denoising":
            clock.add(p.step_seconds)
        eta = clock.eta(p.step, p.total) if p.phase == "denoising" else None
        self.progress.emit(JobProgress(job.id, p.phase, p.step, p.total, eta))
        if p.preview is not None:
            self.preview.emit(job.id, preview_to_qimage(p.preview))

    def _save(self, result) -> tuple[list, str]:
        """The saved images' history ids, and why they could not be saved, if they could not:
        a full or read-only disk must not turn a finished generation into a failed one."""
        if self._history_factory is None:
            return [], ""
        try:
            if self._history is None:
                self._history = self._history_factory()
            return list(self._history.add_result(result) or []), ""
        except Exception as error:  # noqa: BLE001 - the images are in memory still: keep them
            log.error("history could not keep job images:\n%s", traceback.format_exc())
            return [], str(error) or type(error).__name__

    @Slot()
    def _close_on_thread(self) -> None:
        """Releases the engine and the store on the thread that made them."""
        for name in ("_engine", "_history"):
            obj = getattr(self, name)
            closer = getattr(obj, "release", None) or getattr(obj, "close", None)
            if closer is not None:
                try:
                    closer()
                except Exception:  # noqa: BLE001 - closing must never hang or fail the exit
                    log.exception("closing %s failed", name)
            setattr(self, name, None)
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

    def shutdown(self, timeout_ms: int = 60_000) -> bool:
        """Cancels everything, lets the current step finish, and joins the thread."""
        if not self.thread.isRunning():
            return True
        self.worker.stop()
        # Queued behind the running job, so it runs once generate() has returned.
        QMetaObject.invokeMethod(self.worker, "_close_on_thread",
                                 Qt.ConnectionType.QueuedConnection)
        return self.thread.wait(timeout_ms)
