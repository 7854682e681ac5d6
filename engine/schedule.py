"""KerasCV's DDIM schedule, so our loop reproduces `generate_image` bit for bit."""
from __future__ import annotations

import math

import numpy as np

from engine.backends.kerascv_modules import constants

TRAIN_TIMESTEPS = 1000
ALPHAS_CUMPROD: tuple[float, ...] = tuple(constants()._ALPHAS_CUMPROD)

# keras.random turns an int seed into [seed, 0] and reduces it modulo this,
# so KerasCV gives seeds s and s + SEED_PERIOD the same noise.
SEED_PERIOD = 2**31 - 2


def timesteps(steps: int) -> np.ndarray:
    """Ascending timesteps; the loop walks them from the end."""
    ratio = (TRAIN_TIMESTEPS - 1) / (steps - 1) if steps > 1 else TRAIN_TIMESTEPS
    return (np.arange(0, steps) * ratio).round().astype(np.int64)


def alphas(ts: np.ndarray) -> tuple[list[float], list[float]]:
    current = [ALPHAS_CUMPROD[t] for t in ts]
    return current, [1.0] + current[:-1]


def ddim_update(latent: np.ndarray, eps: np.ndarray, a_t: float, a_prev: float
                ) -> tuple[np.ndarray, np.ndarray]:
    """One deterministic DDIM step (eta = 0): returns (next latent, predicted clean latent).

    float32 scalars and this order of operations match KerasCV's TF arithmetic exactly.
    """
    pred_x0 = (latent - np.float32(math.sqrt(1 - a_t)) * eps) / np.float32(math.sqrt(a_t))
    latent = eps * np.float32(math.sqrt(1.0 - a_prev)) + np.float32(math.sqrt(a_prev)) * pred_x0
    return latent, pred_x0


def seed_pair(seed: int) -> tuple[int, int]:
    """Stateless RNG seed for one image: KerasCV's own for seeds below SEED_PERIOD
    (so its images are reproduced), and distinct ones above it."""
    return seed % SEED_PERIOD, seed // SEED_PERIOD
