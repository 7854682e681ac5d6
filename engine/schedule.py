"""The training schedule: KerasCV's 1000 cumulative alphas, its DDIM timesteps (so
our loop reproduces `generate_image` bit for bit), and the same schedule seen as
noise levels sigma, which samplers between the training timesteps need."""
from __future__ import annotations

import math

import numpy as np

from engine.kerascv_files import constants

TRAIN_TIMESTEPS = 1000
ALPHAS_CUMPROD: tuple[float, ...] = tuple(constants()._ALPHAS_CUMPROD)

# keras.random turns an int seed into [seed, 0] and reduces it modulo this,
# so KerasCV gives seeds s and s + SEED_PERIOD the same noise.
SEED_PERIOD = 2**31 - 2


# The schedule as noise levels: a clean image plus sigma times unit noise is the
# training latent at t, divided by sqrt(alpha_cumprod). Ascending in t.
_ALPHAS = np.array(ALPHAS_CUMPROD, np.float64)
SIGMAS = np.sqrt((1.0 - _ALPHAS) / _ALPHAS)
_LOG_SIGMAS = np.log(SIGMAS)
SIGMA_MIN, SIGMA_MAX = float(SIGMAS[0]), float(SIGMAS[-1])


def sigma_at(timestep: float) -> float:
    """Noise level at a timestep in [0, 999], fractional ones by interpolating log sigma
    between the two training timesteps around it."""
    t = min(max(float(timestep), 0.0), TRAIN_TIMESTEPS - 1.0)
    low = min(int(math.floor(t)), TRAIN_TIMESTEPS - 2)
    w = t - low
    return float(math.exp((1.0 - w) * _LOG_SIGMAS[low] + w * _LOG_SIGMAS[low + 1]))


def timestep_at(sigma: float) -> float:
    """The (fractional) timestep whose noise level is `sigma`: sigma_at's inverse,
    clamped to the training range."""
    log_sigma = math.log(min(max(float(sigma), SIGMA_MIN), SIGMA_MAX))
    high = int(np.searchsorted(_LOG_SIGMAS, log_sigma, side="left"))
    high = min(max(high, 1), TRAIN_TIMESTEPS - 1)
    low = high - 1
    w = (log_sigma - _LOG_SIGMAS[low]) / (_LOG_SIGMAS[high] - _LOG_SIGMAS[low])
    return float(low + min(max(w, 0.0), 1.0))


def alpha_cumprod_at(timestep: float) -> float:
    """Cumulative alpha at any timestep: the table's own value at whole ones (so DDIM's
    arithmetic is unchanged), 1 / (1 + sigma^2) between them."""
    if float(timestep).is_integer():
        return ALPHAS_CUMPROD[int(timestep)]
    return 1.0 / (1.0 + sigma_at(timestep) ** 2)


def timesteps(steps: int) -> np.ndarray:
    """Ascending timesteps; the loop walks them from the end."""
    ratio = (TRAIN_TIMESTEPS - 1) / (steps - 1) if steps > 1 else TRAIN_TIMESTEPS
    return (np.arange(0, steps) * ratio).round().astype(np.int64)


def alphas(ts: np.ndarray) -> tuple[list[float], list[float]]:
    current = [ALPHAS_CUMPROD[t] for t in ts]
    return current, [1.0] + current[:-1]


def noised_at(clean: np.ndarray, noise: np.ndarray, a_t: float) -> np.ndarray:
    """x_t = sqrt(a) x0 + sqrt(1 - a) eps: a clean latent at the noise level of alpha-bar a."""
    return (np.float32(math.sqrt(a_t)) * clean + np.float32(math.sqrt(1 - a_t)) * noise
            ).astype(np.float32)


def clean_from(latent: np.ndarray, eps: np.ndarray, a_t: float) -> np.ndarray:
    """The clean latent x_t and its noise eps imply: (x_t - sqrt(1 - a) eps) / sqrt(a)."""
    return (latent - np.float32(math.sqrt(1 - a_t)) * eps) / np.float32(math.sqrt(a_t))


def ddim_update(latent: np.ndarray, eps: np.ndarray, a_t: float, a_prev: float
                ) -> tuple[np.ndarray, np.ndarray]:
    """One deterministic DDIM step (eta = 0): returns (next latent, predicted clean latent).

    float32 scalars and this order of operations match KerasCV's TF arithmetic exactly.
    """
    pred_x0 = clean_from(latent, eps, a_t)
    latent = eps * np.float32(math.sqrt(1.0 - a_prev)) + np.float32(math.sqrt(a_prev)) * pred_x0
    return latent, pred_x0


def noise_from_v(v: np.ndarray, latent: np.ndarray, timestep: float) -> np.ndarray:
    """The noise a v-prediction model's output implies. With x_t = sqrt(a) x0 + sqrt(1-a) eps
    and v = sqrt(a) eps - sqrt(1-a) x0, eps = sqrt(a) v + sqrt(1-a) x_t, where x_t is
    what the network saw at `timestep` (every sampler's model_input is that)."""
    a = alpha_cumprod_at(timestep)
    return (np.float32(math.sqrt(a)) * v + np.float32(math.sqrt(1.0 - a)) * latent).astype(np.float32)


def seed_pair(seed: int) -> tuple[int, int]:
    """Stateless RNG seed for one image: KerasCV's own for seeds below SEED_PERIOD
    (so its images are reproduced), and distinct ones above it."""
    return seed % SEED_PERIOD, seed // SEED_PERIOD
