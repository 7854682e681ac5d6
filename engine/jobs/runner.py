"""Takes jobs from a queue to the history: engine, progress with time left, preview, saving.

Everything it has to say goes out as events on the queue's stream (events.py),
worded for a person: a failed job is a title and a message, never a traceback,
and the queue goes on to the next job.

Threads: `run_pending` (and everything that touches the engine or the history)
runs on one thread, the one that made the engine: Keras keeps its dtype policy
per thread and SQLite wants a connection per thread. `cancel`, `cancel_all` and
`stop` may be called from any thread; a cancel lands within one step, because
the step loop checks the job's token between steps.
"""
from __future__ import annotations

import logging
import sqlite3
import threading
import time
import traceback
from typing import Any, Callable, Optional

from engine.events import CancelToken, Progress
from engine.errors import EngineError
from engine.history.schema import HistoryError
from engine.jobs.errors import describe_error
from engine.jobs.eta import EtaClock
from engine.jobs.events import (Cancelled, EngineFailed, EngineLoading, EngineReady, Failed,
                                Finished, JobProgress, Started)
from engine.jobs.job import Job, JobState
from engine.jobs.queue import JobQueue

log = logging.getLogger(__name__)

# What a history says when it cannot keep images (a file in its place, a full or read-only
# disk): expected, and already a sentence.
_HISTORY_REFUSALS = (HistoryError, OSError, sqlite3.Error)


class Runner:
    """`engine_factory` and `history_factory` are called on the runner's thread, once each,
    when first needed; without a history the images are only in the Finished event."""

    def __init__(self, queue: JobQueue, engine_factory: Callable[[], Any],
                 history_factory: Optional[Callable[[], Any]] = None) -> None:
        self.queue = queue
        self._engine_factory = engine_factory
        self._history_factory = history_factory
        self._engine = None
        self._engine_error: Optional[BaseException] = None
        self._history = None
        self._lock = threading.Lock()
        self._current: Optional[tuple[Job, CancelToken]] = None
        self._stopping = threading.Event()
        self._discarding = False
        # By (model, width, height, batch): the last measured decode and warm step seconds,
        # for the next job's ETA.
        self._decode_seconds: dict[tuple, float] = {}
        self._step_seconds: dict[tuple, float] = {}

    # ---- any thread ------------------------------------------------------------------

    @property
    def engine(self):
        """The engine once loaded, else None."""
        return self._engine

    def running_job(self) -> Optional[int]:
        with self._lock:
            return self._current[0].id if self._current else None

    def cancel(self, job_id: Optional[int] = None) -> bool:
        """Cancels the running job (any, or the one with `job_id`) or removes a waiting one."""
        with self._lock:
            if self._current is not None and job_id in (None, self._current[0].id):
                self._current[1].cancel()
                return True
        return job_id is not None and self.queue.remove(job_id)

    def cancel_all(self) -> list[int]:
        """Empties the queue, then cancels the running job; returns the ids of the waiting
        jobs it removed (they end with no event of their own)."""
        removed = self.queue.clear()
        self.cancel()
        return removed

    def stop(self, keep_jobs: bool = True) -> None:
        """For closing the app: the running job stops at its next step and stays queued as
        interrupted; waiting jobs stay for the next start (unless not `keep_jobs`: then the
        queue is emptied and the running job ends cancelled). `run_pending` then returns."""
        self._discarding = not keep_jobs
        self._stopping.set()
        if not keep_jobs:
            self.queue.clear()
        self.cancel()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    # ---- the runner's thread ---------------------------------------------------------

    def load_engine(self):
        """The engine, made on first call; on failure None, with an EngineFailed event."""
        if self._engine is not None:
            return self._engine
        self.queue.emit(EngineLoading())
        started = time.perf_counter()
        try:
            self._engine = self._engine_factory()
            device = self._engine.device_name()
            backend = self._engine.backend_name()
        except Exception as error:  # noqa: BLE001 - reported; the app goes on without an engine
            log.exception("engine failed to load")
            self._engine, self._engine_error = None, error
            self.queue.emit(EngineFailed("Engine unavailable", describe_error(error)[1]))
            return None
        log.info("engine ready on %s in %.1f s", device, time.perf_counter() - started)
        self.queue.emit(EngineReady(device, backend))
        return self._engine

    def run_pending(self) -> int:
        """Runs jobs until none is pending, the queue is paused, or `stop`; returns how many ran."""
        ran = 0
        while not self._stopping.is_set():
            job = self.queue.take()
            if job is None:
                break
            self.run(job)
            ran += 1
        return ran

    def run(self, job: Job):
        """One job taken from the queue (state running), to its end; returns the ending event."""
        token = CancelToken()
        with self._lock:
            self._current = (job, token)
        self.queue.emit(Started(job.id, job.request))
        started = time.perf_counter()
        ending = None
        try:
            ending = self._generate_and_keep(job, token, started)
        except Exception as error:  # noqa: BLE001 - one job's failure must not stop the queue
            if not isinstance(error, EngineError):
                log.error("job %s failed:\n%s", job.id, traceback.format_exc())
            ending = Failed(job.id, *describe_error(error))
        finally:
            with self._lock:
                self._current = None
            if ending is None:  # KeyboardInterrupt, SystemExit: the job may run again later
                self.queue.finish(job.id, JobState.INTERRUPTED)
        state = {Finished: JobState.DONE, Failed: JobState.FAILED}.get(type(ending), JobState.CANCELLED)
        if isinstance(ending, Cancelled) and ending.interrupted:
            state = JobState.INTERRUPTED
        self.queue.finish(job.id, state)
        self.queue.emit(ending)
        return ending

    def _generate_and_keep(self, job: Job, token: CancelToken, started: float):
        request = job.request
        kept = self._kept_before(job)
        if kept and all(i in kept for i in range(request.batch)):
            # Killed after its images were saved, before the queue heard: nothing to make.
            records = [kept[i] for i in range(request.batch)]
            try:
                result = _result_from(request, records)
            except Exception as error:  # noqa: BLE001 - a file damaged since: make them again
                log.warning("job %s: its saved images cannot be read back: %s", job.id, error)
            else:
                log.info("job %s: its %d image(s) were saved before it was interrupted",
                         job.id, len(records))
                return Finished(job.id, request, tuple(r.id for r in records),
                                time.perf_counter() - started, result, tuple(records), "")
        if self._engine is None:  # EngineLoading tells the wait apart from the model's own load
            if self.load_engine() is None:
                raise self._engine_error or EngineError("The engine could not be loaded.")
        if token.cancelled:
            return self._cancelled(job)
        size = (request.model, request.width, request.height, request.batch)
        clock = EtaClock(self._decode_seconds.get(size), self._step_seconds.get(size))

        def report(p: Progress) -> None:
            if p.phase == "denoising":
                clock.add(p.step_seconds)
            eta = clock.eta(p.step, p.total) if p.phase == "denoising" else None
            self.queue.emit(JobProgress(job.id, p.phase, p.step, p.total, eta, p.preview))

        result = self._engine.generate(request, on_progress=report, cancel=token)
        if clock.per_step() is not None:
            self._step_seconds[size] = clock.per_step()
        # A cancel that came during decoding is too late to save time: keep the images.
        if getattr(result, "cancelled", False) or not getattr(result, "images", None):
            return self._cancelled(job)
        decode = (getattr(result, "timings", None) or {}).get("decoding")
        if decode is not None:
            self._decode_seconds[size] = float(decode)
        self.queue.emit(JobProgress(job.id, "saving", request.steps_to_run(), request.steps_to_run()))
        saved, unsaved = self._keep(result, job, kept)
        return Finished(job.id, request, tuple(getattr(r, "id", r) for r in saved),
                        time.perf_counter() - started, result, tuple(saved), unsaved)

    def _cancelled(self, job: Job) -> Cancelled:
        return Cancelled(job.id, interrupted=self._stopping.is_set() and not self._discarding)

    def _kept_before(self, job: Job) -> dict:
        """{index in the batch: history record} of what a job that ran before (and was
        interrupted: a kill between saving and the queue's finish) already saved."""
        if not job.ran_before or not job.uid or self._history_factory is None:
            return {}
        try:
            history = self._open_history()
            if not hasattr(history, "saved_for"):
                return {}
            # One whose file has gone since (moved away, trash emptied) is made again.
            return {i: record for i, record in history.saved_for(job.uid).items()
                    if record.path.is_file()}
        except Exception as error:  # noqa: BLE001 - not knowing means making them again
            log.warning("job %s: could not ask the history what it kept: %s", job.id, error)
            return {}

    def _open_history(self):
        if self._history is None:
            self._history = self._history_factory()
        return self._history

    def _keep(self, result, job: Job, kept: dict) -> tuple[list, str]:
        """What the history returned for the images (with those `kept` before, in the
        batch's order), and why it could not keep them, if it could not: a full or read-only
        disk must not turn a finished job into a failed one."""
        if self._history_factory is None:
            return [], ""
        try:
            history = self._open_history()
            # job.origin: who queued it, for the gallery's mark.
            if hasattr(history, "saved_for") and job.uid:
                # A history that can say what a job kept names the images by the job's uid.
                added = history.add_result(result, uid=job.uid, skip=set(kept),
                                           origin=job.origin) or []
            else:
                added = history.add_result(result, origin=job.origin) or []
            if not kept:
                return list(added), ""
            fresh = iter(added)  # add_result returns the images it wrote, in order
            merged = [kept.get(i) or next(fresh, None) for i in range(len(result.images))]
            return [record for record in merged if record is not None], ""
        except Exception as error:  # noqa: BLE001 - the images are in the event still: keep them
            if isinstance(error, _HISTORY_REFUSALS):
                # Worded for the person, who reads it in the Finished event; a traceback on
                # the CLI's stderr before that sentence would only bury it.
                log.info("history could not keep job images: %s", error)
            else:
                log.error("history could not keep job images:\n%s", traceback.format_exc())
            return [], str(error) or type(error).__name__

    def close(self, release_engine: bool = True) -> None:
        """Releases the engine and the history, on the thread that made them."""
        for name in ("_engine", "_history") if release_engine else ("_history",):
            obj = getattr(self, name)
            closer = getattr(obj, "release", None) or getattr(obj, "close", None)
            if closer is not None:
                try:
                    closer()
                except Exception:  # noqa: BLE001 - closing must never hang or fail the exit
                    log.exception("closing %s failed", name)
            setattr(self, name, None)


def _result_from(request, records) -> Any:
    """The Finished event's result for images the history already holds, read back from
    their files: the window shows them and the CLI writes them as after a generation."""
    import numpy as np
    from PIL import Image

    from engine.events import GeneratedImage, GenerationResult
    images = []
    for record in records:
        with Image.open(record.path) as image:
            images.append(GeneratedImage(np.asarray(image.convert("RGB")), record.seed))
    seeds = request.seeds()
    images = [GeneratedImage(img.pixels, img.seed if img.seed is not None else seeds[i])
              for i, img in enumerate(images)]
    label = records[0].model if records else request.model
    return GenerationResult(request, images, label, "")
