"""JAX: every call is an XLA program (jax.jit over Keras's stateless call)."""
from __future__ import annotations

from typing import Callable, Optional

import jax
import keras
import numpy as np

NAME = "jax"


def _to_numpy(tree):
    return jax.tree_util.tree_map(np.asarray, tree)


def compiled(model_or_fn, jit: bool = True) -> Callable:
    """`model_or_fn` under jax.jit, whatever `jit` says: JAX has no other fast
    path, and an eager Keras call dispatches op by op. A model's weights go in as
    arguments (its stateless call), not as constants baked into the program, so
    compiling does not copy them and later weight changes are seen. One program
    per input shape. numpy in, numpy out."""
    if not isinstance(model_or_fn, keras.Model):
        program = jax.jit(model_or_fn)
        return lambda *args: _to_numpy(program(*args))
    model = model_or_fn

    @jax.jit
    def run(trainable, non_trainable, *args):
        outputs, _ = model.stateless_call(trainable, non_trainable, *args, training=False)
        return outputs

    def call(*args):
        return _to_numpy(run([v.value for v in model.trainable_variables],
                             [v.value for v in model.non_trainable_variables], *args))
    return call


def _device():
    return jax.devices()[0]


def device_name() -> str:
    device = _device()
    if device.platform == "cpu":
        return "CPU"
    return f"GPU: {device.device_kind}"


def has_gpu() -> bool:
    return _device().platform != "cpu"


def is_out_of_memory(error: BaseException) -> bool:
    if isinstance(error, MemoryError):
        return True
    # XLA reports running out of device memory as a runtime error with this status.
    runtime_errors = tuple(getattr(jax.errors, name) for name in ("JaxRuntimeError",)
                           if hasattr(jax.errors, name))
    try:
        from jaxlib.xla_extension import XlaRuntimeError
        runtime_errors += (XlaRuntimeError,)
    except ImportError:
        pass
    return isinstance(error, runtime_errors) and "RESOURCE_EXHAUSTED" in str(error)


def memory_stats() -> Optional[dict]:
    """{"peak": bytes, "current": bytes} on the device; None where JAX keeps none (a CPU).
    The peak is since the process started: JAX has no way to reset it."""
    stats = _device().memory_stats()
    if not stats:
        return None
    return {"peak": int(stats.get("peak_bytes_in_use", 0)), "current": int(stats.get("bytes_in_use", 0))}


def reset_peak_memory() -> None:
    """Nothing to do: JAX cannot reset its peak (see memory_stats)."""


def grow_memory() -> None:
    """Nothing to do here: JAX reads XLA_PYTHON_CLIENT_PREALLOCATE when it is first
    imported, which engine.compute.prepare_environment sets beforehand."""
