"""The same request on TensorFlow, JAX and PyTorch gives the same images, and
JAX and PyTorch run with TensorFlow impossible to import.

Each backend runs `python main.py generate` in its own process (Keras picks its
backend once, at import); off TensorFlow, `import tensorflow` is made to fail. Stable
Diffusion's side, from KerasCV's .h5 files and from a checkpoint, is in
test_checkpoint_generate.py (one process per backend draws from both).
"""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
NO_TENSORFLOW = Path(__file__).resolve().parent / "no_tensorflow"

OTHERS = [pytest.param("jax", marks=pytest.mark.skipif(
              importlib.util.find_spec("jax") is None, reason="jax is not installed (pip install .[jax])")),
          pytest.param("torch", marks=pytest.mark.skipif(
              importlib.util.find_spec("torch") is None,
              reason="torch is not installed: a multi-GB download, so not in the test extra (pip install .[torch])"))]
# The backends' float32 kernels round differently, and the noise's normals differ in the
# last bits (engine/noise.py): a pixel may land a level either side, rarely two.
SD_LARGEST = 2
SD_MEAN = 0.05


def generate(backend: str, out: Path, *args: str) -> np.ndarray:
    paths = [str(ROOT)] if backend == "tensorflow" else [str(NO_TENSORFLOW), str(ROOT)]
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": os.pathsep.join(paths)}
    done = subprocess.run([sys.executable, "main.py", "generate", "--seed", "7", "--width", "128",
                           "--height", "128", "--no-history", "--no-preview", "--out", str(out), *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    files = sorted(out.glob("*.png"))
    assert len(files) == 1
    return np.asarray(Image.open(files[0]).convert("RGB")).astype(int)


@pytest.fixture(scope="module")
def tensorflow_images():
    """Made on TensorFlow once per module, keyed by model."""
    return {}


def reference(cache: dict, key: str, tmp_path_factory, *args: str) -> np.ndarray:
    if key not in cache:
        cache[key] = generate("tensorflow", tmp_path_factory.mktemp(f"tf-{key}"), *args)
    return cache[key]


def report(backend: str, model: str, theirs: np.ndarray, ours: np.ndarray) -> np.ndarray:
    difference = np.abs(theirs - ours)
    print(f"{model} on {backend} vs tensorflow: largest pixel difference {difference.max()}, "
          f"mean {difference.mean():.4f}")
    return difference


@pytest.mark.parametrize("backend", OTHERS)
def test_demo_model_draws_the_same_image_on_every_backend(backend, tensorflow_images, tmp_path_factory):
    args = ("--model", "demo", "--steps", "8", "--prompt", "a red circle on the left, blue background")
    theirs = reference(tensorflow_images, "demo", tmp_path_factory, *args)
    ours = generate(backend, tmp_path_factory.mktemp(f"{backend}-demo"), *args)
    difference = report(backend, "demo", theirs, ours)
    assert theirs.std() > 10  # a real drawing, not a flat field
    assert difference.max() <= 2
