"""Reads a demo image back into words: background, shape colour, shape and position.

Only meaningful for this synthetic domain (one flat shape on a flat background),
where it is exact on our own renders (see the tests), so the evaluation and the
tests can ask "did the model draw what the caption says?" with no human looking.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from engine.demo.scenes import COLOURS, POSITIONS, SIZES

_NAMES = list(COLOURS)
_PALETTE = np.array([COLOURS[n] for n in _NAMES], np.float32)
_ANCHORS = np.array([POSITIONS[p] for p in POSITIONS], np.float32)
# Below this share of the image the "shape" is stray pixels, not a drawing.
MIN_SHAPE_AREA = 0.004


@dataclass(frozen=True)
class Reading:
    background: str
    colour: Optional[str]
    shape: Optional[str]
    position: Optional[str]
    area: float  # share of the image the shape covers
    fill: float  # shape area / its bounding box area
    taper: float = 1.0  # width at the top of the shape / width at its bottom
    size: Optional[str] = None  # "small" or "large", from the box's longer side


def nearest_colour(rgb: np.ndarray) -> str:
    return _NAMES[int(np.argmin(((_PALETTE - rgb) ** 2).sum(-1)))]


def read_image(image: np.ndarray) -> Reading:
    """`image`: uint8 (H, W, 3) of one shape on a background."""
    pixels = image.astype(np.float32)
    h, w = pixels.shape[:2]
    ring = max(1, min(h, w) // 32)
    border = np.concatenate([
        pixels[:ring].reshape(-1, 3), pixels[-ring:].reshape(-1, 3),
        pixels[:, :ring].reshape(-1, 3), pixels[:, -ring:].reshape(-1, 3),
    ])
    bg_rgb = np.median(border, axis=0)
    background = nearest_colour(bg_rgb)
    distance = np.sqrt(((pixels - bg_rgb) ** 2).sum(-1))
    # Pixels clearly unlike the background name the shape's colour...
    strongest = float(np.percentile(distance, 99.8))
    core = distance > 0.6 * strongest
    if strongest < 45 or core.mean() < MIN_SHAPE_AREA:
        return Reading(background, None, None, None, 0.0, 0.0)
    shape_rgb = np.median(pixels[core], axis=0)
    colour = nearest_colour(shape_rgb)
    # ...and the shape is every pixel nearer its colour than the background's,
    # which puts anti-aliased edges where the renderer drew them.
    to_shape = np.sqrt(((pixels - shape_rgb) ** 2).sum(-1))
    mask = to_shape < distance
    area = float(mask.mean())
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    box = mask[top:bottom, left:right]
    fill = float(box.mean())
    # A triangle (apex up) is narrow at the top of its box and wide at the bottom;
    # circles and squares are as wide at both ends, and only squares fill their box.
    third = max(1, box.shape[0] // 3)
    taper = box[:third].mean() / max(box[-third:].mean(), 1e-6)
    if taper < 0.6:
        shape = "triangle"
    elif fill > 0.9:
        shape = "square"
    else:
        shape = "circle"
    centre = np.array([(left + right) / 2 / w, (top + bottom) / 2 / h], np.float32)
    position = list(POSITIONS)[int(np.argmin(((_ANCHORS - centre) ** 2).sum(-1)))]
    extent = max(bottom - top, right - left) / max(h, w)
    size = "small" if extent < (SIZES["small"] + SIZES["large"]) else "large"
    return Reading(background, colour, shape, position, area, fill, float(taper), size)
