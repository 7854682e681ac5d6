"""Time left in a job, from measured step times only."""
from __future__ import annotations

import statistics
from typing import Optional


class EtaClock:
    """Queue wait and model load never count: only steps, plus the last decode of that size.

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
