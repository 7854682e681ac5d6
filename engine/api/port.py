"""The API's one door into a job queue: submit requests, wait for their endings, read the
running job's progress, interrupt or skip. The CLI's `serve` (local.py) and the window
both give one over their own queue and runner, so the API runs jobs exactly as they do.

Thread-safe. Endings arrive on the runner's thread and resolve concurrent futures that
HTTP handlers await (asyncio.wrap_future), so no handler blocks the event loop.
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import Callable, Optional

from engine.jobs.events import (ENDINGS, Cancelled, JobEvent, JobProgress, QueueChanged,
                                Started)
from engine.jobs.job import API
from engine.request import GenerationRequest


@dataclass(frozen=True)
class RunningJob:
    """What /progress reports: the running job's phase and step, and how many wait."""
    job_id: Optional[int]
    phase: str = ""
    step: int = 0
    total: int = 0
    eta_seconds: Optional[float] = None
    started: float = 0.0
    preview: object = None  # uint8 (B, h, w, 3) of the last step, where the engine made one
    waiting: int = 0
    interrupted: bool = False
    skipped: bool = False

    def describe(self) -> str:
        if self.job_id is None:
            return ""
        return JobProgress(self.job_id, self.phase or "loading", self.step, self.total,
                           self.eta_seconds).describe()


class QueuePort:
    """Over a JobQueue and the Runner that runs it. `wake` asks the runner's thread to run
    what is pending (the CLI's loop, the window's worker); `sources` is the SourceStore its
    engine reads image-to-image sources from."""

    def __init__(self, queue, runner, wake: Callable[[], None], sources) -> None:
        self.queue = queue
        self.runner = runner
        self.sources = sources
        self._wake = wake
        self._lock = threading.RLock()
        self._futures: dict[int, Future] = {}
        self._started: set[int] = set()
        self._calls: dict[int, list[int]] = {}  # a job -> every job of its call, in order
        self._running = RunningJob(None)
        self._interrupted: set[int] = set()
        self._skipped: set[int] = set()
        self._closed = False
        queue.subscribe(self._on_event)

    # ---- submitting and waiting ------------------------------------------------------

    def submit(self, requests: list[GenerationRequest]) -> list[Future]:
        """Queues one call's jobs (marked as the API's) and wakes the runner; each future
        resolves to the job's ending event (Finished, Failed or Cancelled)."""
        if self._closed:
            raise RuntimeError("The API is shutting down.")
        futures: list[Future] = []
        ids: list[int] = []
        with self._lock:
            # Held while adding: a runner already draining the queue may take a job at once,
            # and its ending must find the future (endings take this lock to resolve one).
            for request in requests:
                future: Future = Future()
                job = self.queue.add(request, origin=API)
                self._futures[job.id] = future
                ids.append(job.id)
                futures.append(future)
            for job_id in ids:
                self._calls[job_id] = ids
        self._wake()
        return futures

    # ---- stopping --------------------------------------------------------------------

    def interrupt(self) -> None:
        """A1111's /interrupt: the running job stops, and the rest of its call is not run."""
        running = self.runner.running_job()
        if running is None:
            return
        with self._lock:
            self._interrupted.add(running)
            rest = [j for j in self._calls.get(running, []) if j != running]
        for job_id in rest:
            if self.queue.remove(job_id):
                self._resolve(job_id, Cancelled(job_id))
        self.runner.cancel(running)

    def skip(self) -> None:
        """A1111's /skip: the running job stops; the rest of its call goes on."""
        running = self.runner.running_job()
        if running is not None:
            with self._lock:
                self._skipped.add(running)
                if self._running.job_id == running:
                    self._running = replace(self._running, skipped=True)
            self.runner.cancel(running)

    def running(self) -> RunningJob:
        with self._lock:
            state = self._running
        waiting = self.queue.count_waiting()
        return RunningJob(**{**state.__dict__, "waiting": waiting})

    def close(self) -> None:
        """Every call still waiting ends cancelled (the server is stopping)."""
        self.queue.unsubscribe(self._on_event)
        with self._lock:
            self._closed = True
            pending = list(self._futures)
        for job_id in pending:
            self._resolve(job_id, Cancelled(job_id))

    # ---- events, on whichever thread caused them -------------------------------------

    def _on_event(self, event: JobEvent) -> None:
        if isinstance(event, Started):
            with self._lock:
                self._started.add(event.job_id)
                self._running = RunningJob(event.job_id, "loading", 0,
                                           event.request.steps_to_run(), started=time.time())
        elif isinstance(event, JobProgress):
            with self._lock:
                if self._running.job_id == event.job_id:
                    preview = event.preview if event.preview is not None else self._running.preview
                    self._running = RunningJob(
                        event.job_id, event.phase, event.step, event.total, event.eta_seconds,
                        self._running.started, preview,
                        interrupted=event.job_id in self._interrupted,
                        skipped=event.job_id in self._skipped)
        elif isinstance(event, ENDINGS):
            with self._lock:
                if self._running.job_id == event.job_id:
                    self._running = RunningJob(None)
            self._resolve(event.job_id, event)
        elif isinstance(event, QueueChanged):
            self._resolve_removed()

    def _resolve_removed(self) -> None:
        """Jobs taken out of the queue before they started (the window's Remove, Cancel all)
        end with no event of their own: their calls must not wait for ever. A job that
        started always ends with an event, so only those that never started are asked."""
        with self._lock:
            unstarted = [j for j in self._futures if j not in self._started]
        for job_id in unstarted:
            if self.queue.get(job_id) is None:
                with self._lock:
                    # Started since we looked: its ending event will come.
                    if job_id in self._started:
                        continue
                self._resolve(job_id, Cancelled(job_id))

    def _resolve(self, job_id: int, ending) -> None:
        with self._lock:
            future = self._futures.pop(job_id, None)
            self._started.discard(job_id)
            self._interrupted.discard(job_id)
            self._calls.pop(job_id, None)
        if future is not None and not future.done():
            future.set_result(ending)
