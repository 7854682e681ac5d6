"""Resizing a first pass for the second: its latent (A1111's "Latent" modes) or its pixels.

Latent modes follow torch's interpolate as A1111 calls it (align_corners off):
bilinear and bicubic through Pillow's float images (the same sampling-point
convention), nearest and nearest-exact by index, so "Latent (nearest)" repeats
latent cells exactly as A1111's does.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from engine.request import LATENT_UPSCALERS, PIXEL_UPSCALERS

_PIXEL_FILTERS = {"Lanczos": Image.LANCZOS, "Nearest": Image.NEAREST}
_LATENT_FILTERS = {"Latent": Image.BILINEAR, "Latent (antialiased)": Image.BILINEAR,
                   "Latent (bicubic)": Image.BICUBIC, "Latent (bicubic antialiased)": Image.BICUBIC}


def resize_latent(latent: np.ndarray, height: int, width: int, upscaler: str) -> np.ndarray:
    """(B, h, w, c) latents at (B, height, width, c), by one of LATENT_UPSCALERS."""
    if upscaler not in LATENT_UPSCALERS:
        raise ValueError(f"{upscaler!r} is not a latent upscaler ({', '.join(LATENT_UPSCALERS)}).")
    latent = np.asarray(latent, np.float32)
    h, w = latent.shape[1:3]
    if (h, w) == (height, width):
        return latent.copy()
    if upscaler in ("Latent (nearest)", "Latent (nearest-exact)"):
        offset = 0.5 if upscaler.endswith("exact)") else 0.0
        rows = np.minimum(((np.arange(height) + offset) * h / height).astype(int), h - 1)
        cols = np.minimum(((np.arange(width) + offset) * w / width).astype(int), w - 1)
        return latent[:, rows][:, :, cols].copy()
    kind = _LATENT_FILTERS[upscaler]
    out = np.empty((latent.shape[0], height, width, latent.shape[3]), np.float32)
    for b in range(latent.shape[0]):
        for c in range(latent.shape[3]):
            plane = Image.fromarray(np.ascontiguousarray(latent[b, :, :, c]), mode="F")
            out[b, :, :, c] = np.asarray(plane.resize((width, height), kind), np.float32)
    return out


def resize_pixels(images: np.ndarray, height: int, width: int, upscaler: str = "Lanczos") -> np.ndarray:
    """uint8 (B, H, W, 3) images at (B, height, width, 3), by one of PIXEL_UPSCALERS."""
    if upscaler not in _PIXEL_FILTERS:
        raise ValueError(f"{upscaler!r} is not a pixel upscaler ({', '.join(PIXEL_UPSCALERS)}).")
    images = np.asarray(images, np.uint8)
    if images.shape[1:3] == (height, width):
        return images.copy()
    return np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(image)).resize(
        (width, height), _PIXEL_FILTERS[upscaler])) for image in images])


def centre_crop(values: np.ndarray, height: int, width: int) -> np.ndarray:
    """The middle `height` x `width` of (B, H, W, C): A1111 crops what covering both asked
    sides left over, more on the far side when the overflow is odd."""
    h, w = values.shape[1:3]
    top, left = (h - height) // 2, (w - width) // 2
    return values[:, top:top + height, left:left + width]
