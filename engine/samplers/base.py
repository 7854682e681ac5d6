"""What the step loop asks of a sampler, and the common part of the samplers that
walk a list of noise levels (sigmas).

The loop stays one loop: for each of `steps` model evaluations it asks the
sampler what to feed the network (`model_input`, at `timestep(i)`), runs guided
denoising, and hands the predicted noise back to `step`, which returns the next
latent and the predicted clean latent (the preview). Whatever a method carries
from one step to the next (a previous model output) lives in the sampler object,
one object per generation.

Sigma samplers keep the latent as x = clean + sigma * noise (k-diffusion's view of
the discrete schedule); the network was trained on x / sqrt(1 + sigma^2) at the
timestep whose noise level is sigma, which is what `model_input` gives it.
"""
from __future__ import annotations

from typing import Optional, Protocol

import numpy as np

from engine import schedule

CleanRange = Optional[tuple[float, float]]


class Sampler(Protocol):
    steps: int  # model evaluations (each one guided: two network calls, or one of 2B)

    def start(self, noise: np.ndarray) -> np.ndarray:
        """The first latent, from unit Gaussian noise."""

    def timestep(self, index: int) -> float:
        """The training timestep (0..999, fractional between training steps) of step `index`."""

    def model_input(self, latent: np.ndarray, index: int) -> np.ndarray:
        """What the network sees at step `index`."""

    def step(self, latent: np.ndarray, eps: np.ndarray, index: int
             ) -> tuple[np.ndarray, np.ndarray]:
        """(next latent, predicted clean latent) from the guided noise prediction."""

    def noised(self, clean: np.ndarray, noise: np.ndarray, index: int) -> np.ndarray:
        """The latent as this sampler holds it before step `index` (after the last step when
        `index` == steps: the clean latent itself), for a known clean latent and its noise:
        where image to image starts, and what inpainting blends in at every step."""


def first_step(steps: int, strength: float) -> int:
    """Where image to image starts in a schedule of `steps`: it runs the last
    round(steps x strength) of them (at least one when the strength is above 0),
    so strength 1 is the whole schedule and strength 0 runs none."""
    if strength <= 0:
        return steps
    return steps - min(steps, max(1, round(steps * strength)))


class SigmaSampler:
    """A sampler over `sigmas` (descending, ending in 0). Subclasses write `update`.

    `clean_range`: where the model's clean images live, if anywhere (the demo model's
    pixels in [-1, 1]); each predicted clean image is clipped to it before the update.
    """

    def __init__(self, sigmas: np.ndarray, clean_range: CleanRange = None):
        self.sigmas = np.asarray(sigmas, np.float64)
        self.steps = len(self.sigmas) - 1
        self.clean_range = clean_range
        self._timesteps = [schedule.timestep_at(s) for s in self.sigmas[:-1]]

    def start(self, noise: np.ndarray) -> np.ndarray:
        return (noise * np.float32(self.sigmas[0])).astype(np.float32)

    def timestep(self, index: int) -> float:
        return self._timesteps[index]

    def noised(self, clean: np.ndarray, noise: np.ndarray, index: int) -> np.ndarray:
        return (clean + np.float32(self.sigmas[index]) * noise).astype(np.float32)

    def model_input(self, latent: np.ndarray, index: int) -> np.ndarray:
        scale = 1.0 / np.sqrt(1.0 + self.sigmas[index] ** 2)
        return (latent * np.float32(scale)).astype(np.float32)

    def step(self, latent: np.ndarray, eps: np.ndarray, index: int
             ) -> tuple[np.ndarray, np.ndarray]:
        sigma = self.sigmas[index]
        denoised = latent - np.float32(sigma) * eps
        if self.clean_range is not None:
            denoised = np.clip(denoised, *self.clean_range)
        denoised = denoised.astype(np.float32)
        following = self.update(latent, denoised, index, sigma, self.sigmas[index + 1])
        return following.astype(np.float32), denoised

    def update(self, x: np.ndarray, denoised: np.ndarray, index: int,
               sigma: float, sigma_next: float) -> np.ndarray:
        raise NotImplementedError
