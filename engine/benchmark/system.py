"""What the numbers were measured on, and how much memory a block of work peaked at."""
from __future__ import annotations

import os
import platform
import threading
from typing import Optional

import psutil


def versions() -> dict[str, str]:
    import keras
    import keras_cv
    import numpy
    import tensorflow as tf
    return {"python": platform.python_version(), "tensorflow": tf.__version__,
            "keras": keras.__version__, "keras_cv": keras_cv.__version__,
            "numpy": numpy.__version__}


def machine() -> dict:
    from engine.pipeline import device_name
    return {"device": device_name(), "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_cores": os.cpu_count(),
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            # Other busy processes make every number here slower and noisier: record it.
            "load_average": _load_average()}


def _load_average() -> Optional[list[float]]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):  # Windows
        return None


class PeakMemory:
    """Peak process RSS (sampled every `interval` s on a thread) and, where there is a
    GPU, TensorFlow's own peak of GPU memory, over a `with` block."""

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
    def _gpus() -> list:
        import tensorflow as tf
        return tf.config.list_logical_devices("GPU")

    def _gpu_reset(self) -> None:
        import tensorflow as tf
        for gpu in self._gpus():
            try:
                tf.config.experimental.reset_memory_stats(gpu.name)
            except (ValueError, RuntimeError):
                pass

    def _gpu_peak(self) -> Optional[int]:
        import tensorflow as tf
        peaks = []
        for gpu in self._gpus():
            try:
                peaks.append(tf.config.experimental.get_memory_info(gpu.name)["peak"])
            except (ValueError, RuntimeError):
                pass
        return max(peaks) if peaks else None
