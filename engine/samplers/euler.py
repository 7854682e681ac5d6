"""Euler's method on the probability-flow ODE, and its ancestral variant ("Euler a").

In sigma space the ODE is dx/dsigma = (x - clean) / sigma, the predicted noise.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from engine.samplers.base import CleanRange, SigmaSampler

# (step index, shape of the latent batch) -> unit Gaussian noise for that step.
StepNoise = Callable[[int, tuple[int, ...]], np.ndarray]


class Euler(SigmaSampler):
    def update(self, x, denoised, index, sigma, sigma_next):
        if sigma_next == 0:
            return denoised
        slope = (x - denoised) / np.float32(sigma)
        return x + np.float32(sigma_next - sigma) * slope


class EulerAncestral(SigmaSampler):
    """Each step goes down past the next level, to `down`, and adds fresh noise of
    size `up` to land on it: down^2 + up^2 = sigma_next^2. `up` is the noise a
    DDPM step would add (eta = 1). The noise comes from `step_noise`, which draws
    each image's from its own seed and the step index."""

    def __init__(self, sigmas, step_noise: StepNoise, clean_range: CleanRange = None):
        super().__init__(sigmas, clean_range)
        self._step_noise = step_noise

    def update(self, x, denoised, index, sigma, sigma_next):
        if sigma_next == 0:
            return denoised
        up = min(sigma_next, math.sqrt(sigma_next ** 2 * (sigma ** 2 - sigma_next ** 2) / sigma ** 2))
        down = math.sqrt(sigma_next ** 2 - up ** 2)
        slope = (x - denoised) / np.float32(sigma)
        fresh = self._step_noise(index, x.shape)
        return x + np.float32(down - sigma) * slope + np.float32(up) * fresh
