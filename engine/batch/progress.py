"""Jobs done of all, with the time left: one count for the whole batch, wherever jobs run."""
from __future__ import annotations

import time
from typing import Callable, Optional

from engine.durations import format_duration as _format


class BatchProgress:
    """`show(fraction, text)` draws it (the CLI's ProgressBar.show); `clock` is for tests."""

    def __init__(self, total: int, show: Callable[[float, str], None],
                 clock: Callable[[], float] = time.monotonic):
        self.total = total
        self.done = 0
        self.failed = 0
        self._show = show
        self._clock = clock
        self._start = clock()
        # The fraction done of each running job, by job: one here, one per worker on a cluster.
        self._running: dict = {}

    def job_finished(self, failed: bool = False, job=None) -> None:
        self.done += 1
        self.failed += int(failed)
        self._running.pop(job, None)
        self._draw()

    def job_step(self, fraction: float, job=None) -> None:
        self._running[job] = min(max(fraction, 0.0), 0.999)
        self._draw()

    def _progress(self) -> float:
        return self.done + sum(self._running.values())

    def elapsed(self) -> float:
        return self._clock() - self._start

    def eta_seconds(self) -> Optional[float]:
        progress = self._progress()
        if progress <= 0:
            return None
        return self.elapsed() / progress * (self.total - progress)

    def text(self) -> str:
        eta = self.eta_seconds()
        failed = f", {self.failed} failed" if self.failed else ""
        left = f", ETA {format_duration(eta)}" if eta is not None and self.done < self.total else ""
        return f"{self.done}/{self.total} jobs{failed}{left}"

    def _draw(self) -> None:
        self._show(self._progress() / max(self.total, 1), self.text())


def format_duration(seconds: float) -> str:
    """The short form of engine.durations' one rule, for the batch's progress line."""
    return _format(seconds, compact=True)
