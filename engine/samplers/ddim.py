"""KerasCV's DDIM (eta = 0) on its own whole timesteps: the latent stays the
training latent itself, and the arithmetic is engine.schedule's, so images are
bit-identical to `generate_image`.

With a `clean_range` (the demo model's pixels) the predicted clean image is
clipped to it and the step carries on with the noise that clipped image
implies, as the sigma samplers do (their derivative is (x - clean) / sigma):
guidance pushes pixel-space predictions out of range, and every sampler then
solves the same clipped ODE, so they converge to the same image.
"""
from __future__ import annotations

import math

import numpy as np

from engine import schedule


class DDIM:
    def __init__(self, steps: int, clean_range=None):
        self.clean_range = clean_range
        ascending = schedule.timesteps(steps)
        alphas, alphas_prev = schedule.alphas(ascending)
        # The loop walks KerasCV's timesteps from the last.
        self._timesteps = [int(t) for t in ascending[::-1]]
        self._alphas = list(zip(alphas[::-1], alphas_prev[::-1]))
        self.steps = steps

    def start(self, noise: np.ndarray) -> np.ndarray:
        return noise

    def timestep(self, index: int) -> int:
        return self._timesteps[index]

    def noised(self, clean: np.ndarray, noise: np.ndarray, index: int) -> np.ndarray:
        if index >= self.steps:
            return clean.astype(np.float32)
        a_t = self._alphas[index][0]
        return schedule.noised_at(clean, noise, a_t)

    def model_input(self, latent: np.ndarray, index: int) -> np.ndarray:
        return latent

    def step(self, latent: np.ndarray, eps: np.ndarray, index: int
             ) -> tuple[np.ndarray, np.ndarray]:
        a_t, a_prev = self._alphas[index]
        if self.clean_range is None:
            return schedule.ddim_update(latent, eps, a_t, a_prev)
        clean = np.clip(schedule.clean_from(latent, eps, a_t),
                        *self.clean_range)
        # The noise that the clipped clean image and this latent imply, carried on.
        eps = (latent - np.float32(math.sqrt(a_t)) * clean) / np.float32(math.sqrt(1 - a_t))
        return eps * np.float32(math.sqrt(1 - a_prev)) + np.float32(math.sqrt(a_prev)) * clean, clean
