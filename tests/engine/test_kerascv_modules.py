"""KerasCV's own SD modules load and run on JAX where TensorFlow cannot be imported."""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NO_TENSORFLOW = Path(__file__).resolve().parent / "no_tensorflow"

PROBE = r"""
import inspect, json, sys
import numpy as np
# The SD modules first, then the constants: the constants must still be found
# once the parent packages are the plain ones the loader registers.
from engine.backends import keras_sd
from engine import schedule
encoder = keras_sd.TextEncoder(77, download_weights=False)
out = encoder.predict_on_batch({"tokens": np.zeros((1, 77), np.int32),
                                "positions": np.arange(77, dtype=np.int32)[None]})
print(json.dumps({
    "files": [inspect.getfile(c) for c in (keras_sd.DiffusionModel, keras_sd.Decoder,
                                           keras_sd.TextEncoder, keras_sd.SimpleTokenizer)],
    "schedule": len(schedule.ALPHAS_CUMPROD), "unconditional": len(keras_sd._UNCONDITIONAL_TOKENS),
    "shape": list(out.shape), "tensorflow": sys.modules.get("tensorflow") is not None}))
"""


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed (pip install .[jax])")
def test_kerascv_sd_modules_load_and_run_without_tensorflow():
    env = {**os.environ, "KERAS_BACKEND": "jax",
           "PYTHONPATH": os.pathsep.join([str(NO_TENSORFLOW), str(ROOT)])}
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    folder = str(Path(importlib.util.find_spec("keras_cv").origin).parent)
    assert all(f.startswith(folder) and "stable_diffusion" in f for f in seen["files"])
    assert seen["schedule"] == 1000 and seen["unconditional"] == 77
    assert seen["shape"] == [1, 77, 768]
    assert seen["tensorflow"] is False
