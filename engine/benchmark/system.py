"""What the numbers were measured on, and how much memory a block of work peaked at."""
from __future__ import annotations

import os
import platform
import sys
import threading
from typing import Optional

import psutil


def machine(engine=None) -> dict:
    """`engine` (its public device_name and backend_name) names the device and
    backend; without one they are left out, and no framework is imported."""
    facts = {"platform": platform.platform(),
             "processor": platform.processor() or platform.machine(),
             "cpu_cores": os.cpu_count(),
             "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
             # Other busy processes make every number here slower and noisier: record it.
             "load_average": load_average()}
    if engine is not None:
        facts = {"backend": engine.backend_name(), "device": engine.device_name(), **facts}
    return facts


def load_average() -> Optional[list[float]]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):  # Windows
        return None


class PeakMemory:
    """Peak process RSS (sampled every `interval` s on a thread) and, where there is a
    GPU, the backend's own peak of device memory, over a `with` block (on JAX, which
    cannot reset its peak, the peak since the process started)."""

    def __init__(self, interval: float = 0.05):
        self.interval = interval
        self.peak_rss = 0
        self.peak_gpu: Optional[int] = None
        self._stop = threading.Event()
        self._process = psutil.Process()
        self._thread: Optional[threading.Thread] = None

    def __enter__(self) -> "PeakMemory":
        self._gpu_reset()
        self.peak_rss = self._process.memory_info().rss
        self._thread = threading.Thread(target=self._sample, name="peak-memory", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_rss = max(self.peak_rss, self._process.memory_info().rss)
        self.peak_gpu = self._gpu_peak()

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak_rss = max(self.peak_rss, self._process.memory_info().rss)

    @staticmethod
    def _compute():
        """The backend's compute module once Keras is loaded; None before, when
        nothing can have run on a GPU in this process (and importing would be slow)."""
        if "keras" not in sys.modules:
            return None
        from engine import compute
        return compute.current()

    def _gpu_reset(self) -> None:
        module = self._compute()
        if module is not None:
            module.reset_peak_memory()

    def _gpu_peak(self) -> Optional[int]:
        module = self._compute()
        stats = module.memory_stats() if module is not None else None
        return None if stats is None else stats["peak"]
