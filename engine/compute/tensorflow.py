"""TensorFlow: tf.function graphs, with XLA (`jit_compile`) when asked."""
from __future__ import annotations

from typing import Callable, Optional

import keras
import numpy as np
import tensorflow as tf

NAME = "tensorflow"


def _as_function(model_or_fn) -> Callable:
    if isinstance(model_or_fn, keras.Model):
        return lambda *args: model_or_fn(*args, training=False)
    return model_or_fn


def compiled(model_or_fn, jit: bool) -> Callable:
    """`model_or_fn` as one graph, XLA-compiled when `jit`: numpy (or nested
    numpy) in, numpy out. One trace per input shape, so shapes stay exact as XLA
    needs; the graph is the one predict_on_batch runs, without its per-call
    adapters, so results are bit-identical to it."""
    graph = tf.function(_as_function(model_or_fn), jit_compile=jit, reduce_retracing=False)

    def call(*args):
        outputs = graph(*tf.nest.map_structure(tf.convert_to_tensor, args))
        return tf.nest.map_structure(lambda tensor: tensor.numpy(), outputs)
    return call


def compiled_pair(model: keras.Model) -> Callable:
    """Two calls of `model` on two inputs in one graph: (inputs_a, inputs_b) ->
    (outputs_a, outputs_b), each exactly what the model gives that input alone.

    Neither call needs the other's output, so TensorFlow's executor runs them side
    by side on its inter-op thread pool: on a CPU each fills the gaps the other
    leaves (small ops, and big ops that cannot use every core). Other frameworks
    run one op at a time, so only this module has it. No Python threads: two
    threads calling compiled functions at once segfaulted TensorFlow (4d1fd66)."""
    def both(first, second):
        return model(first, training=False), model(second, training=False)
    return compiled(both, jit=False)


def stateless_normal(shape: tuple[int, ...], seed: tuple[int, int]) -> np.ndarray:
    """TensorFlow's own stateless normal, which KerasCV's seeds give: engine.noise
    uses it on TensorFlow, so KerasCV's images are reproduced bit for bit."""
    return tf.random.stateless_normal(shape, seed=seed, dtype=tf.float32).numpy()


def device_name() -> str:
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "CPU"
    details = tf.config.experimental.get_device_details(gpus[0])
    return f"GPU: {details.get('device_name', gpus[0].name)}"


def has_gpu() -> bool:
    return bool(tf.config.list_logical_devices("GPU"))


def is_out_of_memory(error: BaseException) -> bool:
    return isinstance(error, (tf.errors.ResourceExhaustedError, MemoryError))


def _first_gpu() -> Optional[str]:
    gpus = tf.config.list_logical_devices("GPU")
    return gpus[0].name if gpus else None


def memory_stats() -> Optional[dict]:
    """{"peak": bytes, "current": bytes} on the first GPU; None on a CPU."""
    gpu = _first_gpu()
    if gpu is None:
        return None
    info = tf.config.experimental.get_memory_info(gpu)
    return {"peak": int(info["peak"]), "current": int(info["current"])}


def reset_peak_memory() -> None:
    gpu = _first_gpu()
    if gpu is not None:
        tf.config.experimental.reset_memory_stats(gpu)


def grow_memory() -> None:
    """A desktop app shares the GPU: take memory as needed, not all of it at start."""
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # the GPU was already initialised by someone else
            pass
