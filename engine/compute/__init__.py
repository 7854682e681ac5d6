"""The one place that names a framework: each Keras backend's compiled call,
device name, out-of-memory error and memory figures, one small module each.

Everything else in the engine is `keras`, `keras.ops` or numpy, and asks
`current()` for what differs between TensorFlow, JAX and PyTorch.
"""
from __future__ import annotations

import importlib
import os
from types import ModuleType

# Module names here, keyed by `keras.backend.backend()`.
_MODULES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}


def prepare_environment() -> None:
    """Settings a framework reads once, when it is first imported (which importing
    Keras does): call before anything imports Keras.

    A desktop app shares the GPU with everything else on the machine, so JAX must
    not grab most of its memory up front as it does by default."""
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")


def limit_cpu_threads(count: int) -> None:
    """At most `count` compute threads per process, for one worker per core (a Ray
    actor per CPU); like prepare_environment, before anything imports Keras."""
    for name in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        os.environ[name] = str(count)
    os.environ["XLA_FLAGS"] = " ".join(filter(None, (
        os.environ.get("XLA_FLAGS"), f"--xla_cpu_multi_thread_eigen={str(count > 1).lower()}")))


def backend_name() -> str:
    """The Keras backend in use: "tensorflow", "jax" or "torch"."""
    import keras
    return keras.backend.backend()


def current() -> ModuleType:
    """The compute module of the Keras backend in use."""
    name = backend_name()
    if name not in _MODULES:
        raise RuntimeError(f"Keras backend {name!r} is not supported; use tensorflow, jax or torch.")
    return importlib.import_module(f"{__name__}.{_MODULES[name]}")
