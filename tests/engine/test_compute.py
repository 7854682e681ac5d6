"""engine.compute on the backend this process runs (TensorFlow by default) and on JAX."""
import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from engine import compute

ROOT = Path(__file__).resolve().parents[2]

# Runs in a fresh process per backend: Keras picks its backend once, at import.
PROBE = r"""
import json, keras, numpy as np
from engine import compute
framework = compute.current()
inputs = keras.Input((3,))
model = keras.Model(inputs, keras.layers.Dense(2, kernel_initializer="ones")(inputs))
out = framework.compiled(model, jit=True)(np.ones((4, 3), np.float32))
pair = framework.compiled(lambda a, b: (a + b, a * b), jit=False)(np.float32(2), np.float32(3))
print(json.dumps({"name": framework.NAME, "backend": compute.backend_name(),
                  "out": np.asarray(out).tolist(), "type": type(out).__name__,
                  "pair": [float(v) for v in pair], "device": framework.device_name(),
                  "gpu": framework.has_gpu(), "memory": framework.memory_stats(),
                  "oom": framework.is_out_of_memory(MemoryError()),
                  "not_oom": framework.is_out_of_memory(ValueError("shape"))}))
framework.reset_peak_memory()
framework.grow_memory()
"""


def probe(backend: str) -> dict:
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True,
                          timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def installed(module: str) -> bool:
    import importlib.util
    return importlib.util.find_spec(module) is not None


BACKENDS = [pytest.param(name, marks=pytest.mark.skipif(not installed(name), reason=f"{name} is not installed"))
            for name in ("tensorflow", "jax", "torch")]


@pytest.mark.parametrize("backend", BACKENDS)
def test_each_backend_compiles_a_model_and_describes_its_device(backend):
    seen = probe(backend)
    assert seen["name"] == seen["backend"] == backend
    assert seen["type"] == "ndarray" and seen["out"] == [[3.0, 3.0]] * 4
    assert seen["pair"] == [5.0, 6.0]
    assert seen["device"] == "CPU" and seen["gpu"] is False and seen["memory"] is None
    assert seen["oom"] is True and seen["not_oom"] is False


def test_current_is_the_keras_backend_in_use():
    assert compute.current().NAME == keras.backend.backend() == compute.backend_name()


def test_out_of_memory_errors_of_this_framework_are_recognised():
    framework = compute.current()
    if framework.NAME == "tensorflow":
        import tensorflow as tf
        assert framework.is_out_of_memory(tf.errors.ResourceExhaustedError(None, None, "OOM"))
        assert not framework.is_out_of_memory(tf.errors.InvalidArgumentError(None, None, "shape"))
    assert not framework.is_out_of_memory(RuntimeError("something else"))


def test_compiled_model_equals_the_eager_model():
    inputs = keras.Input((5,))
    model = keras.Model(inputs, keras.layers.Dense(3)(inputs))
    x = np.random.default_rng(0).standard_normal((2, 5)).astype(np.float32)
    np.testing.assert_allclose(compute.current().compiled(model, jit=False)(x),
                               keras.ops.convert_to_numpy(model(x)), rtol=1e-6)
