"""A real server for the API tests: LocalJobs (queue, runner, history in a temporary folder)
behind uvicorn on 127.0.0.1, on a free port."""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from engine.api.app import ApiSettings, create_app
from engine.api.local import LocalJobs
from engine.api.server import ApiServer


@dataclass
class Served:
    server: ApiServer
    jobs: LocalJobs
    history_dir: Path

    @property
    def url(self) -> str:
        return self.server.url

    def history_count(self) -> int:
        from engine.history import HistoryStore
        with HistoryStore(self.history_dir, reconcile=False) as store:
            return store.count()


@contextmanager
def serving(history_dir: Path, engine_factory=None, settings: ApiSettings = None):
    jobs = LocalJobs(history_dir, engine_factory).start()
    server = ApiServer(create_app(jobs.port, settings or ApiSettings(model="demo")), "127.0.0.1", 0)
    server.start()
    try:
        yield Served(server, jobs, history_dir)
    finally:
        server.stop()
        jobs.stop()


class Holding:
    """An engine that parks its job after step 2 while `hold` is set, until `release` or a
    cancel: a running job to poll, interrupt and skip, without timing anything."""

    def __init__(self, inner):
        self.inner = inner
        self.hold = threading.Event()
        self.reached = threading.Event()
        self.release = threading.Event()
        self.models: list[str] = []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def generate(self, request, on_progress=None, cancel=None, **kwargs):
        self.models.append(request.model)

        def report(progress):
            if on_progress is not None:
                on_progress(progress)
            if self.hold.is_set() and progress.phase == "denoising" and progress.step == 2:
                self.reached.set()
                while not (self.release.is_set() or cancel.cancelled):
                    time.sleep(0.005)
        return self.inner.generate(request, report, cancel, **kwargs)
