"""DPM-Solver++(2M) (Lu et al., 2022): a second-order multistep solver of the ODE
written for the predicted clean image, in lambda = -log(sigma).

One step from sigma to sigma_next, with h = lambda_next - lambda, is exact for a
clean prediction that is constant over the step:
    x_next = (sigma_next / sigma) x + (1 - e^-h) D.
First order takes D = the clean prediction now; 2M extrapolates it linearly in
lambda from the previous step's, D = (1 + 1/2r) now - 1/2r previous, where
r = h_previous / h. The last step, down to sigma = 0, is first order: it lands
on the clean prediction itself.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from engine.samplers.base import SigmaSampler


class DPMSolverPP2M(SigmaSampler):
    def __init__(self, sigmas, clean_range=None):
        super().__init__(sigmas, clean_range)
        self._previous: Optional[np.ndarray] = None  # last step's clean prediction
        self._previous_h = 0.0

    def update(self, x, denoised, index, sigma, sigma_next):
        if sigma_next == 0:
            return denoised
        h = math.log(sigma / sigma_next)
        blended = denoised
        if self._previous is not None:
            half_over_r = h / self._previous_h / 2  # 1 / 2r
            blended = np.float32(1 + half_over_r) * denoised - np.float32(half_over_r) * self._previous
        self._previous, self._previous_h = denoised, h
        return np.float32(sigma_next / sigma) * x - np.float32(math.expm1(-h)) * blended
