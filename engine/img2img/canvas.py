"""The picture the step loop starts from: the source on its canvas, and what to repaint.

Outpainting puts the source inside margins; the new area is filled (with the
source's edge colours, or noise: `benchmark --img2img` measures which one the
models continue better) and always repainted. A mask, white to repaint, is
resized to the canvas when it is of another size, and blurred: the blurred mask
is what blends the result into the source, in the latent at every step and in
pixels at the end, so the seam is soft and the unmasked pixels are the source's.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
from PIL import Image, ImageFilter

from engine.request import Source

FILLS = ("edge", "noise")
DEFAULT_FILL = "edge"


@dataclass
class Canvas:
    pixels: np.ndarray  # uint8 (H, W, 3): the source, resized and placed, margins filled
    mask: Optional[np.ndarray]  # float32 (H, W) in [0, 1], blurred; None repaints everything

    def latent_mask(self, height: int, width: int) -> Optional[np.ndarray]:
        """The mask at the latent's size, (h, w, 1): area averages of the blurred mask."""
        if self.mask is None:
            return None
        small = Image.fromarray(self.mask.astype(np.float32)).resize((width, height), Image.BOX)
        return np.clip(np.asarray(small, np.float32), 0.0, 1.0)[..., None]

    def composite(self, generated: np.ndarray) -> np.ndarray:
        """The generated images (B, H, W, 3) over the source where the mask says so."""
        if self.mask is None:
            return generated
        m = self.mask[None, ..., None]
        blended = self.pixels[None].astype(np.float32) * (1.0 - m) + generated.astype(np.float32) * m
        return np.clip(np.round(blended), 0, 255).astype(np.uint8)


def build(source: Source, image: np.ndarray, mask: Optional[np.ndarray], width: int, height: int,
          seed: int = 0, fill: str = DEFAULT_FILL) -> Canvas:
    """`image`: the source's pixels; `mask`: uint8 (H, W) grey levels or None. Both are
    resized to fit (engine/img2img/prepare.py has told the person when they did not).
    `width` x `height` is the canvas (the request's size), margins included."""
    left, top, right, bottom = source.outpaint
    inner_w, inner_h = width - left - right, height - top - bottom
    if inner_w < 1 or inner_h < 1:
        raise ValueError(f"Margins {source.outpaint} leave no room for the source in {width}x{height}.")
    inner = _resize(image[..., :3], inner_w, inner_h)
    repaint = None
    if mask is not None:
        repaint = np.zeros((height, width), np.float32)
        repaint[top:top + inner_h, left:left + inner_w] = _resize_grey(mask, inner_w, inner_h) / 255.0
    if any(source.outpaint):
        if repaint is None:
            repaint = np.zeros((height, width), np.float32)
        repaint[:top, :] = repaint[top + inner_h:, :] = 1.0
        repaint[:, :left] = repaint[:, left + inner_w:] = 1.0
    pixels = _fill(inner, source.outpaint, fill, seed)
    blurred = None if repaint is None else _blur(repaint, source.mask_blur)
    return Canvas(pixels, blurred)


def nothing_to_repaint(mask: np.ndarray) -> bool:
    """A mask with no white at all (after rounding to 8 bits)."""
    return not bool((np.asarray(mask) > 0).any())


def _fill(inner: np.ndarray, margins: tuple[int, int, int, int], fill: str, seed: int) -> np.ndarray:
    left, top, right, bottom = margins
    if not any(margins):
        return inner
    padding = ((top, bottom), (left, right), (0, 0))
    if fill == "edge":
        return np.pad(inner, padding, mode="edge")
    if fill == "noise":
        rng = np.random.default_rng(seed)
        canvas = rng.integers(0, 256, (inner.shape[0] + top + bottom, inner.shape[1] + left + right, 3),
                              dtype=np.uint8)
        canvas[top:top + inner.shape[0], left:left + inner.shape[1]] = inner
        return canvas
    raise ValueError(f"No fill {fill!r}; the fills are {', '.join(FILLS)}.")


def _resize(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    if pixels.shape[1] == width and pixels.shape[0] == height:
        return np.ascontiguousarray(pixels)
    return np.asarray(Image.fromarray(np.ascontiguousarray(pixels)).resize((width, height), Image.LANCZOS))


def _resize_grey(mask: np.ndarray, width: int, height: int) -> np.ndarray:
    if mask.shape[1] == width and mask.shape[0] == height:
        return mask.astype(np.float32)
    return np.asarray(Image.fromarray(mask).resize((width, height), Image.BILINEAR), np.float32)


def _blur(mask: np.ndarray, radius: int) -> np.ndarray:
    if radius <= 0:
        return mask
    # Pillow blurs 8-bit images only; masks are 8-bit images anyway.
    levels = Image.fromarray(np.clip(np.round(mask * 255.0), 0, 255).astype(np.uint8))
    blurred = levels.filter(ImageFilter.GaussianBlur(radius))
    return np.asarray(blurred, np.float32) / np.float32(255.0)
