"""The picture the step loop starts from: the source on its canvas, and what to repaint.

Outpainting puts the source inside margins; the new area is filled (with the
source's edge colours, or noise: `benchmark --img2img` measures which one the
models continue better) and always repainted. A mask, white to repaint, is
resized to the canvas when it is of another size, and blurred: the blurred mask
is what blends the result into the source, in the latent at every step and in
pixels at the end, so the seam is soft and the unmasked pixels are the source's.

What the masked area starts from is the request's `inpaint_fill` (A1111's "Masked
content"). At a strength below 1 the loop keeps part of its starting picture, so
with "original" a masked area drifts little from what was there; "fill" replaces
it by colours from the kept surroundings first, and the latent fills replace its
latent by noise or zeros. Only the start changes: the kept area is blended back
from the source's own latent at every step and its pixels at the end, whatever
the fill.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
from PIL import Image, ImageFilter

from engine.request import Source

# Ancestral samplers draw step i's noise from stream i (at most 200 steps); the
# latent-noise fill draws from a stream far past those, so it is its own noise.
_LATENT_NOISE_STREAM = 1 << 20

FILLS = ("edge", "noise")
DEFAULT_FILL = "edge"


@dataclass
class Canvas:
    pixels: np.ndarray  # uint8 (H, W, 3): the source, resized and placed, margins filled
    mask: Optional[np.ndarray]  # float32 (H, W) in [0, 1], blurred; None repaints everything
    # What the starting latent is encoded from, where the masked area is filled
    # first ("fill"); None: `pixels` as they are.
    start: Optional[np.ndarray] = None
    # "latent-noise" or "latent-nothing": the masked latent replaced at the start.
    latent_fill: Optional[str] = None

    def start_pixels(self) -> np.ndarray:
        return self.pixels if self.start is None else self.start

    def starting_latent(self, encoded: np.ndarray, repaint: Optional[np.ndarray],
                        seeds: list[int]) -> np.ndarray:
        """The clean latent the loop noises to start from: `encoded` (of `start_pixels`),
        its masked part (`repaint`, from `latent_mask`) replaced by a latent fill."""
        if self.latent_fill is None or repaint is None:
            return encoded
        if self.latent_fill == "latent-noise":
            from engine.noise import step_noise
            filled = step_noise(seeds, encoded.shape[1:], _LATENT_NOISE_STREAM).astype(np.float32)
        else:
            filled = np.zeros_like(encoded)
        return (encoded * (1.0 - repaint) + filled * repaint).astype(np.float32)

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
    canvas = Canvas(pixels, blurred)
    if blurred is not None and source.inpaint_fill == "fill":
        canvas.start = surroundings_fill(pixels, blurred)
    elif blurred is not None and source.inpaint_fill in ("latent-noise", "latent-nothing"):
        canvas.latent_fill = source.inpaint_fill
    return canvas


def surroundings_fill(pixels: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """`pixels` with each masked pixel (by its mask value) replaced by the colour of the
    kept pixels around it: averages weighted by how much each pixel is kept, over
    blocks that double in size until every block holds some kept pixel, then brought
    back up smoothly, the finest block with kept pixels winning. Kept pixels (mask 0)
    come back exactly; a mask with nothing kept gives the image's own mean colour."""
    weight = 1.0 - np.clip(mask.astype(np.float64), 0.0, 1.0)
    if not weight.any():
        mean = np.round(pixels.reshape(-1, pixels.shape[-1]).mean(axis=0))
        return np.broadcast_to(mean.astype(np.uint8), pixels.shape).copy()
    colour = pixels.astype(np.float64) * weight[..., None]
    levels = [(colour, weight)]
    while max(weight.shape) > 1:
        colour, weight = _halve(colour), _halve(weight)
        levels.append((colour, weight))
    colour, weight = levels.pop()
    result = colour / np.maximum(weight, 1e-12)[..., None]
    for colour, weight in reversed(levels):
        upper = _resize_float(result, weight.shape[1], weight.shape[0])
        kept = np.minimum(weight, 1.0)[..., None]
        result = colour / np.maximum(weight, 1e-12)[..., None] * kept + upper * (1.0 - kept)
    filled = np.clip(np.round(result), 0, 255).astype(np.uint8)
    return np.where(mask[..., None] > 0, filled, pixels)


def _halve(values: np.ndarray) -> np.ndarray:
    """Sums over 2x2 blocks (a missing row or column counts as zero)."""
    height, width = values.shape[:2]
    pad = ((0, height % 2), (0, width % 2)) + ((0, 0),) * (values.ndim - 2)
    values = np.pad(values, pad)
    return values[0::2, 0::2] + values[1::2, 0::2] + values[0::2, 1::2] + values[1::2, 1::2]


def _resize_float(values: np.ndarray, width: int, height: int) -> np.ndarray:
    channels = [np.asarray(Image.fromarray(values[..., c].astype(np.float32))
                           .resize((width, height), Image.BILINEAR), np.float64)
                for c in range(values.shape[-1])]
    return np.stack(channels, axis=-1)


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
