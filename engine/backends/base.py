"""What the shared step loop needs from a model.

Stable Diffusion (KerasCV components) and the built-in demo model both implement
this, so seeds, guidance, negative prompts, progress, previews and cancel behave
the same for every model: the loop in engine/sampler.py is written once.
"""
from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np


class DiffusionBackend(Protocol):
    model_id: str
    label: str  # what results record, e.g. "sd-v1.4 (custom, unverified)"
    max_tokens: int

    def count_tokens(self, text: str) -> int:
        """Token count of `text`, start and end tokens included."""

    def unknown_words(self, text: str) -> list[str]:
        """Words the model cannot represent (empty for open-vocabulary models)."""

    def latent_shape(self) -> tuple[int, int, int]:
        """(h, w, c) of one latent for the size this backend was built for."""

    def encode(self, prompts: Sequence[str]) -> np.ndarray:
        """Context for each prompt, batch first."""

    def unconditional(self, batch: int) -> np.ndarray:
        """Context used when there is no negative prompt, batch first."""

    def denoise(self, latent, timestep: float, context) -> np.ndarray:
        """Predicted noise for `latent` at `timestep` (0..999; samplers on their own
        noise levels ask for fractional ones) given `context`."""

    def encode_image(self, pixels: np.ndarray) -> np.ndarray:
        """The clean latents of uint8 images (B, H, W, 3) of this backend's size: where
        image to image starts. decode(encode_image(x)) is x up to the model's own loss."""

    def decode(self, latent) -> np.ndarray:
        """uint8 images (B, H, W, 3)."""

    def preview(self, predicted_clean_latent) -> np.ndarray:
        """A cheap uint8 (B, h, w, 3) look at a predicted clean latent."""


class CleanRange(Protocol):
    """Optional: a backend whose clean images lie in a fixed range (pixels in
    [-1, 1]) says so; sigma samplers clip each predicted clean image to it.
    Stable Diffusion's latents have no such range."""
    clean_range: tuple[float, float]


class PairedGuidance(Protocol):
    """Optional: a backend that can run guidance's two calls of B faster together
    than one after the other, with the very same results. The sampler uses it
    when the backend has it and one call of 2B is not the chosen mode."""

    def denoise_pair(self, latent, timestep: float, unconditional, context
                     ) -> tuple[np.ndarray, np.ndarray]:
        """(denoise(latent, timestep, unconditional), denoise(latent, timestep, context))."""


def same_length(first: np.ndarray, second: np.ndarray, filler: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """Two contexts padded with the empty prompt's chunk (`filler`, (B, 77, width)) to
    the same number of tokens, as A1111 pads a prompt and its negative: guidance runs
    both through the UNet at one input length. Fixed-length contexts pass unchanged."""
    def padded(context: np.ndarray, tokens: int) -> np.ndarray:
        missing = (tokens - context.shape[1]) // filler.shape[1]
        if missing <= 0:
            return context
        fill = np.repeat(filler[:1], len(context), axis=0).astype(context.dtype)
        return np.concatenate([context] + [fill] * missing, axis=1)
    tokens = max(first.shape[1], second.shape[1])
    return padded(first, tokens), padded(second, tokens)
