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
        self._running = 0.0  # fraction of the current job (local runs report steps)

    def job_finished(self, failed: bool = False) -> None:
        self.done += 1
        self.failed += int(failed)
        self._running = 0.0
        self._draw()

    def job_step(self, fraction: float) -> None:
        self._running = min(max(fraction, 0.0), 0.999)
        self._draw()

    def elapsed(self) -> float:
        return self._clock() - self._start

    def eta_seconds(self) -> Optional[float]:
        progress = self.done + self._running
        if progress <= 0:
            return None
        return self.elapsed() / progress * (self.total - progress)

    def text(self) -> str:
        eta = self.eta_seconds()
        failed = f", {self.failed} failed" if self.failed else ""
        left = f", ETA {format_duration(eta)}" if eta is not None and self.done < self.total else ""
        return f"{self.done}/{self.total} jobs{failed}{left}"

    def _draw(self) -> None:
        self._show((self.done + self._running) / max(self.total, 1), self.text())


def format_duration(seconds: float) -> str:
    """The short form of engine.durations' one rule, for the batch's progress line."""
    return _format(seconds, compact=True)
