"""UniPC (Zhao et al., 2023), second order, for the predicted clean image, with
its B(h) = e^-h - 1 variant ("bh2"), in lambda = -log(sigma).

Each step is a predictor (UniP) and a corrector (UniC). The predictor is
DPM-Solver++(2M)'s step. The corrector refits the step just taken once the model
has been evaluated at its end, using that new clean prediction as well, so it
costs no extra evaluation: the model's output at the uncorrected point is kept
as this step's prediction, and the corrected point is where the next step
starts from.

Both are   x_t = (sigma_t / sigma_s) x_s - (e^-h - 1) m_s - B(h) sum_k rho_k D_k
over divided differences D_k = (m_k - m_s) / r_k of the clean predictions m at
lambda offsets r_k h from the step's start s. The predictor uses the previous
point's difference with rho = 1/2; the corrector adds the new point's (r = 1)
and takes the rhos that make the step exact to second order: R rho = b, with
R's rows the powers 0 and 1 of the r's, and b from the phi functions of -h.
The last step, down to sigma = 0, lands on the clean prediction itself.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from engine.samplers.base import SigmaSampler


def _b_coefficients(h: float) -> tuple[float, float, float]:
    """(B(h), b1, b2) for a step of length h (hh = -h for the clean prediction)."""
    hh = -h
    big_b = math.expm1(hh)
    g1 = math.expm1(hh) / hh - 1
    g2 = g1 / hh - 0.5
    return big_b, g1 / big_b, 2 * g2 / big_b


class UniPC(SigmaSampler):
    def __init__(self, sigmas, clean_range=None):
        super().__init__(sigmas, clean_range)
        # Where the last step started (corrected), its sigma and clean prediction,
        # and the one before it: what the corrector needs.
        self._start: Optional[np.ndarray] = None
        self._start_sigma = 0.0
        self._start_clean: Optional[np.ndarray] = None
        self._earlier: Optional[tuple[float, np.ndarray]] = None  # (sigma, clean) of the step before

    def update(self, x, denoised, index, sigma, sigma_next):
        if sigma_next == 0:
            return denoised
        if self._start is not None:
            x = self._advance(self._start, self._start_sigma, sigma, self._start_clean,
                              self._earlier, arrived=denoised)
            self._earlier = (self._start_sigma, self._start_clean)
        self._start, self._start_sigma, self._start_clean = x, sigma, denoised
        return self._advance(x, sigma, sigma_next, denoised, self._earlier)

    @staticmethod
    def _advance(x_s: np.ndarray, sigma_s: float, sigma_t: float, clean_s: np.ndarray,
                 earlier: Optional[tuple[float, np.ndarray]],
                 arrived: Optional[np.ndarray] = None) -> np.ndarray:
        """From x_s to sigma_t: the predictor, or with the clean prediction `arrived`
        at the end point, the corrector."""
        h = math.log(sigma_s / sigma_t)
        big_b, b1, b2 = _b_coefficients(h)
        out = np.float32(sigma_t / sigma_s) * x_s - np.float32(math.expm1(-h)) * clean_s
        if earlier is not None:
            sigma_p, clean_p = earlier
            r = math.log(sigma_s / sigma_p) / h  # negative: that point lies behind
            difference = (clean_p - clean_s) / np.float32(r)
        if arrived is None:
            if earlier is None:
                return out
            return out - np.float32(big_b * 0.5) * difference
        arrived_difference = arrived - clean_s
        if earlier is None:
            return out - np.float32(big_b * 0.5) * arrived_difference
        # Solve [[1, 1], [r, 1]] (rho_p, rho_t) = (b1, b2).
        rho_p = (b1 - b2) / (1 - r)
        rho_t = b1 - rho_p
        return out - np.float32(big_b) * (np.float32(rho_p) * difference
                                          + np.float32(rho_t) * arrived_difference)
