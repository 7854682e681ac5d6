"""Latent Consistency Models' multistep sampling (Luo et al., 2023), for LCM
fine-tunes and LCM-LoRA: each step predicts the clean latent in one go, then
noises it afresh to the next (lower) timestep, where the model predicts again.

The model was distilled on a skipping schedule: the 1000 training steps taken
50 at a time (timesteps 19, 39, .., 999). A run of n steps picks n of those,
evenly spaced from the top (4 steps: 999, 759, 499, 259).

The consistency function's boundary condition (f(x, 0) = x) is kept by blending
the predicted clean latent with the latent itself:
    denoised = c_out(t) * clean + c_skip(t) * x,
    c_skip = s^2 / ((10 t)^2 + s^2),  c_out = 10 t / sqrt((10 t)^2 + s^2),  s = 0.5,
where 10 is the reference scheduler's timestep scaling (it makes c_skip tiny
away from t = 0). The latent stays the training latent, as in DDIM:
x_t = sqrt(a_t) clean + sqrt(1 - a_t) noise.
"""
from __future__ import annotations

import math

import numpy as np

from engine import schedule
from engine.samplers.base import CleanRange
from engine.samplers.euler import StepNoise

ORIGINAL_STEPS = 50  # the distillation's schedule length
TIMESTEP_SCALING = 10.0
SIGMA_DATA = 0.5


def lcm_timesteps(steps: int, original: int = ORIGINAL_STEPS) -> list[int]:
    """`steps` timesteps, highest first, picked evenly from the skipping schedule.
    More steps than the schedule has (a person may ask for them) take a finer
    schedule of `steps` levels instead, still ending at the top."""
    length = max(original, steps)
    train = schedule.TRAIN_TIMESTEPS
    skipping = [int(i * train // length) - 1 for i in range(length, 0, -1)]  # 999 .. down
    picks = np.floor(np.linspace(0, length, num=steps, endpoint=False)).astype(int)
    return [skipping[i] for i in picks]


def boundary_scalings(timestep: float) -> tuple[float, float]:
    """(c_skip, c_out) at a training timestep."""
    scaled = timestep * TIMESTEP_SCALING
    c_skip = SIGMA_DATA ** 2 / (scaled ** 2 + SIGMA_DATA ** 2)
    c_out = scaled / math.sqrt(scaled ** 2 + SIGMA_DATA ** 2)
    return c_skip, c_out


class LCM:
    """`step_noise` gives each step's fresh noise from the images' own seeds (as Euler a's)."""

    def __init__(self, steps: int, step_noise: StepNoise, clean_range: CleanRange = None):
        self.steps = steps
        self.clean_range = clean_range
        self._step_noise = step_noise
        self._timesteps = lcm_timesteps(steps)
        self._alphas = [schedule.ALPHAS_CUMPROD[t] for t in self._timesteps]

    def start(self, noise: np.ndarray) -> np.ndarray:
        return noise.astype(np.float32)

    def timestep(self, index: int) -> int:
        return self._timesteps[index]

    def model_input(self, latent: np.ndarray, index: int) -> np.ndarray:
        return latent

    def noised(self, clean: np.ndarray, noise: np.ndarray, index: int) -> np.ndarray:
        if index >= self.steps:
            return clean.astype(np.float32)
        a_t = self._alphas[index]
        return schedule.noised_at(clean, noise, a_t)

    def step(self, latent: np.ndarray, eps: np.ndarray, index: int
             ) -> tuple[np.ndarray, np.ndarray]:
        a_t = self._alphas[index]
        clean = schedule.clean_from(latent, eps, a_t)
        if self.clean_range is not None:
            clean = np.clip(clean, *self.clean_range)
        c_skip, c_out = boundary_scalings(self._timesteps[index])
        denoised = (np.float32(c_out) * clean + np.float32(c_skip) * latent).astype(np.float32)
        if index + 1 >= self.steps:
            return denoised, denoised
        fresh = self._step_noise(index, latent.shape)
        return self.noised(denoised, fresh, index + 1), denoised
