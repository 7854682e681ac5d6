"""The demo model as a DiffusionBackend: the shared step loop drives it like Stable Diffusion."""
from __future__ import annotations

import functools
import threading
from pathlib import Path
from typing import Optional, Sequence

import keras
import numpy as np
from PIL import Image

from engine import compute
from engine.demo import text
from engine.models.registry import DEMO
from engine.demo.model import CHANNELS, IMAGE_SIZE, build_text_encoder, build_unet
from engine.resources import demo_dir
from engine.demo.upsampler import build_upsampler, sharp_resize
from engine.errors import EngineError
from engine.schedule import alpha_cumprod_at

WEIGHT_FILES = ("text_encoder.weights.h5", "unet.weights.h5", "upsampler.weights.h5")
PREVIEW_SIZE = IMAGE_SIZE * 2


class DemoBackend:
    model_id = DEMO.id
    label = DEMO.label
    max_tokens = text.SEQUENCE_LENGTH
    # Pixels: a guided prediction outside this is out of the picture (see base.CleanRange).
    clean_range = (-1.0, 1.0)

    def __init__(self, networks: "_Networks", width: int, height: int):
        self._net = networks
        self.width, self.height = width, height
        self._unconditional = self._net.encode(text.token_ids([""]))

    def count_tokens(self, prompt: str) -> int:
        return text.count_tokens(prompt)

    def vocabulary_problem(self, prompt: str) -> Optional[str]:
        return text.vocabulary_problem(prompt)

    def latent_shape(self) -> tuple[int, int, int]:
        return IMAGE_SIZE, IMAGE_SIZE, CHANNELS

    def encode(self, prompts: Sequence[str]) -> np.ndarray:
        return self._net.encode(text.token_ids(list(prompts)))

    def unconditional(self, batch: int) -> np.ndarray:
        return np.repeat(self._unconditional, batch, axis=0)

    def denoise(self, latent, timestep: float, context) -> np.ndarray:
        latent = np.asarray(latent, np.float32)
        t = np.full((len(latent),), float(timestep), np.float32)
        v = self._net.denoise(latent, t, np.asarray(context, np.float32))
        a = alpha_cumprod_at(timestep)
        return np.float32(np.sqrt(1.0 - a)) * latent + np.float32(np.sqrt(a)) * v

    def encode_image(self, pixels: np.ndarray) -> np.ndarray:
        """The demo diffuses pixels: its "latent" is the picture at its own size, in [-1, 1]."""
        small = np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(p)).resize(
            (IMAGE_SIZE, IMAGE_SIZE), Image.BOX)) for p in np.asarray(pixels, np.uint8)])
        return small.astype(np.float32) / np.float32(127.5) - np.float32(1.0)

    def decode(self, latent) -> np.ndarray:
        pixels = self._net.upsample(np.clip(np.asarray(latent, np.float32), -1.0, 1.0))
        return sharp_resize(_to_uint8(pixels), self.height, self.width)

    def preview(self, predicted_clean_latent) -> np.ndarray:
        small = _to_uint8(np.asarray(predicted_clean_latent, np.float32))
        return small.repeat(2, axis=1).repeat(2, axis=2)


def _to_uint8(images: np.ndarray) -> np.ndarray:
    return np.clip(np.round((images + 1.0) * 127.5), 0, 255).astype(np.uint8)


class _Networks:
    """The three trained networks, loaded once per folder and shared by every size."""

    def __init__(self, folder: Path):
        missing = [n for n in WEIGHT_FILES if not (folder / n).is_file()]
        if missing:
            raise EngineError(
                f"The demo model's files are missing from {folder}: {', '.join(missing)}. "
                "Reinstall the app, or run `python -m engine.demo.train` from a source checkout.")
        # The dtype policy is per thread, and a worker may have set mixed_float16 for
        # Stable Diffusion; the demo model is trained and run in float32.
        previous = keras.config.dtype_policy()
        keras.config.set_dtype_policy("float32")
        try:
            self.encoder, self.unet, self.upsampler = (
                build_text_encoder(), build_unet(), build_upsampler())
        finally:
            keras.config.set_dtype_policy(previous)
        for model, name in zip((self.encoder, self.unet, self.upsampler), WEIGHT_FILES):
            model.load_weights(folder / name)
        # The step loop calls the UNet 20-50 times per image: compiled, traced on first use.
        framework = compute.current()
        self._encode = framework.compiled(self.encoder, jit=False)
        self._denoise = framework.compiled(self.unet, jit=False)
        self._upsample = framework.compiled(self.upsampler, jit=False)
        # Tracing is not safe to race from two threads.
        self._lock = threading.Lock()

    def encode(self, ids: np.ndarray) -> np.ndarray:
        with self._lock:
            return self._encode(ids)

    # One row at a time: a compiled program is specialised to its batch size and
    # may then pick other kernels, so an image of a batch would differ from the
    # same seed made alone. The networks are small enough that rows cost little.
    def denoise(self, x: np.ndarray, t: np.ndarray, context: np.ndarray) -> np.ndarray:
        with self._lock:
            return np.concatenate([self._denoise([x[i:i + 1], t[i:i + 1], context[i:i + 1]])
                                   for i in range(len(x))])

    def upsample(self, x: np.ndarray) -> np.ndarray:
        with self._lock:
            return np.concatenate([self._upsample(x[i:i + 1]) for i in range(len(x))])


@functools.lru_cache(maxsize=2)
def _networks(folder: str) -> _Networks:
    return _Networks(Path(folder))


def load_demo_backend(width: int, height: int, folder: Optional[Path] = None) -> DemoBackend:
    """The demo model, drawing images of width x height pixels (any size; requests use 128..1024)."""
    return DemoBackend(_networks(str(folder or demo_dir())), width, height)
