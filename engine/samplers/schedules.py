"""Noise levels for `steps` model evaluations, highest first, with a final 0 appended."""
from __future__ import annotations

import numpy as np

from engine import schedule

KARRAS_RHO = 7.0  # Karras et al. 2022: spends more steps at low noise


def uniform_in_time(steps: int) -> np.ndarray:
    """The training timesteps 999 .. 0 evenly spaced, as noise levels."""
    ts = np.linspace(schedule.TRAIN_TIMESTEPS - 1, 0, steps)
    return np.append([schedule.sigma_at(t) for t in ts], 0.0)


def karras(steps: int, rho: float = KARRAS_RHO) -> np.ndarray:
    """Evenly spaced in sigma^(1/rho) between the schedule's own highest and lowest level."""
    high, low = schedule.SIGMA_MAX ** (1 / rho), schedule.SIGMA_MIN ** (1 / rho)
    ramp = np.linspace(0.0, 1.0, steps)
    return np.append((high + ramp * (low - high)) ** rho, 0.0)


def sgm_uniform(steps: int) -> np.ndarray:
    """The training timesteps from 999 evenly down, stopping a step short of 0 (A1111's
    "SGM Uniform", diffusers' "trailing" spacing): what SD-Turbo-style models were
    distilled on, where one step starts from pure noise and lands on the image."""
    ts = np.linspace(schedule.TRAIN_TIMESTEPS - 1, 0, steps + 1)[:-1]
    return np.append([schedule.sigma_at(t) for t in ts], 0.0)
