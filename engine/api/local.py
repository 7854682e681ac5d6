"""A queue and runner of the API's own, on one engine thread: what `serve` runs when the
window is not open (the window gives its own queue instead: gui/api_switch.py).

The runner's thread makes the engine and the history and runs every job, as Keras and
SQLite want (engine/jobs/runner.py); the HTTP threads only add to the queue and wait.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable, Optional

from engine.api.port import QueuePort


class LocalJobs:
    """`engine_factory`: an engine for the runner's thread (default: the CLI's Engine over
    this history's sources). `history_dir`: the history the jobs go to (default: the
    app's).

    The queue is in memory, as A1111's: a job lives as long as the client that waits for
    it can, and a second `serve` on the same history (or the open window) can never take
    this one's jobs, whose endings only this process hears."""

    def __init__(self, history_dir: Optional[Path] = None,
                 engine_factory: Optional[Callable[[], Any]] = None) -> None:
        from engine.history import HistoryStore
        from engine.img2img.store import SourceStore
        from engine.jobs import JobQueue, Runner
        from engine.paths import history_location
        location = history_location(history_dir)
        self.sources = SourceStore.of_history(location)
        self.queue = JobQueue()
        if engine_factory is None:
            def engine_factory():
                from engine.pipeline import Engine
                return Engine(sources=self.sources)
        self.runner = Runner(self.queue, engine_factory,
                             lambda: HistoryStore(location, reconcile=False))
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.port = QueuePort(self.queue, self.runner, self._wake.set, self.sources)
        self._thread = threading.Thread(target=self._loop, name="api-engine", daemon=True)

    def start(self) -> "LocalJobs":
        self._thread.start()
        return self

    def load_engine(self) -> None:
        """Makes the engine now, on its thread, rather than at the first job."""
        self._preload = True
        self._wake.set()

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                if getattr(self, "_preload", False):
                    self._preload = False
                    self.runner.load_engine()
                self.runner.run_pending()
                self._wake.wait(0.5)
                self._wake.clear()
        finally:
            self.runner.close()

    def stop(self, timeout: float = 60.0) -> None:
        """The running job stops at its next step; waiting calls end cancelled."""
        self._stop.set()
        self.port.close()
        self.runner.stop(keep_jobs=False)
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self.queue.close()
