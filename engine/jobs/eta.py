"""Time left in a job, from measured step times only."""
from __future__ import annotations

import statistics
from typing import Optional


class EtaClock:
    """Queue wait and model load never count: only steps, plus the last decode of that size.

    The first step carries one-off work (graph tracing, XLA compilation) that later steps
    do not repeat: times the steps left, it once said "about 30 s" for 2 s of work. So it
    gives no estimate of its own: until a second step is measured, the clock uses the step
    time the last job of that size measured (`step_guess`), if any; then it is left out.
    """

    def __init__(self, decode_guess: Optional[float] = None,
                 step_guess: Optional[float] = None) -> None:
        self.step_times: list[float] = []
        self.decode_guess = decode_guess
        self.step_guess = step_guess

    def add(self, seconds: Optional[float]) -> None:
        if seconds is not None and seconds >= 0:
            self.step_times.append(seconds)

    def per_step(self) -> Optional[float]:
        """Seconds a step takes once warm: the median of the recent steps after the first."""
        if len(self.step_times) < 2:
            return self.step_guess
        return statistics.median(self.step_times[1:][-10:])

    def eta(self, step: int, total: int) -> Optional[float]:
        if not self.step_times:
            return None
        left = max(0, total - step)
        per_step = self.per_step() if left else 0.0
        if per_step is None:
            return None
        return per_step * left + (self.decode_guess or 0.0)
