"""From files a person names to a request's Source: read, checked, stored, and the size.

The CLI and the window both come here, so a source image is read and judged one
way: what was adjusted (a mask resized, transparency used as the mask, the size
snapped) comes back as notes to show, and what cannot work as one ImageProblem.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

import numpy as np

from engine.img2img.canvas import nothing_to_repaint
from engine.img2img.images import (ImageProblem, has_transparency, mask_from_alpha,
                                   mask_from_pixels, read_image)
from engine.img2img.store import SourceStore
from engine.request import (DEFAULT_INPAINT_FILL, MAX_SIDE, MIN_SIDE, SIDE_STEP, Source,
                            check_field)

PathLike = Union[str, Path]


@dataclass
class Prepared:
    source: Source
    width: int  # the canvas: the source's size, snapped, plus the margins
    height: int
    notes: list[str] = field(default_factory=list)


def canvas_size(image_width: int, image_height: int, margins=(0, 0, 0, 0)) -> tuple[int, int, list[str]]:
    """The request's size for a source of this size: scaled down to fit the largest
    canvas with its margins (keeping its shape), each side snapped to a multiple of 64."""
    left, top, right, bottom = margins
    room_w, room_h = MAX_SIDE - left - right, MAX_SIDE - top - bottom
    if room_w < MIN_SIDE or room_h < MIN_SIDE:
        raise ImageProblem(f"Outpaint margins {tuple(margins)} leave less than {MIN_SIDE} pixels "
                           f"for the source on a canvas of at most {MAX_SIDE}: use smaller margins.")
    scale = min(1.0, room_w / image_width, room_h / image_height)
    inner_w = _snap(image_width * scale, room_w)
    inner_h = _snap(image_height * scale, room_h)
    notes = []
    if (inner_w, inner_h) != (image_width, image_height):
        notes.append(f"The source image is {image_width}x{image_height}; it is used at "
                     f"{inner_w}x{inner_h} (sides must be multiples of {SIDE_STEP}, "
                     f"{MIN_SIDE} to {MAX_SIDE} with the margins).")
    return inner_w + left + right, inner_h + top + bottom, notes


def _snap(value: float, room: int) -> int:
    return max(MIN_SIDE, min(room // SIDE_STEP * SIDE_STEP, int(round(value / SIDE_STEP)) * SIDE_STEP))


def prepare(store: SourceStore, image: Union[PathLike, np.ndarray], mask: Union[None, PathLike, np.ndarray] = None,
            strength: float = 0.75, mask_blur: int = 4, outpaint=(0, 0, 0, 0),
            inpaint_fill: str = DEFAULT_INPAINT_FILL) -> Prepared:
    """`image` and `mask`: files, or pixels the window already holds (a painted mask:
    uint8 (H, W) grey levels, white repaints). `inpaint_fill`: what the masked area and
    margins start from (engine/request.py INPAINT_FILLS)."""
    pixels = read_image(image) if not isinstance(image, np.ndarray) else _as_rgba(image)
    notes: list[str] = []
    grey: Optional[np.ndarray] = None
    if mask is not None:
        grey = mask_from_pixels(read_image(mask, "mask")) if not isinstance(mask, np.ndarray) \
            else np.asarray(mask, np.uint8)
        if grey.ndim == 3:
            grey = mask_from_pixels(grey)
        if grey.shape[:2] != pixels.shape[:2]:
            notes.append(f"The mask is {grey.shape[1]}x{grey.shape[0]} and the image "
                         f"{pixels.shape[1]}x{pixels.shape[0]}: the mask was resized to fit.")
    elif has_transparency(pixels):
        grey = mask_from_alpha(pixels)
        notes.append("The source image has transparent parts and no mask was given: "
                     "the transparent parts are repainted.")
    if grey is not None and nothing_to_repaint(grey):
        raise ImageProblem("The mask is all black: there is nothing to repaint. Paint in white "
                           "what should change, or leave the mask out to change the whole image.")
    outpaint = tuple(outpaint)
    width, height, size_notes = canvas_size(pixels.shape[1], pixels.shape[0], outpaint)
    notes.extend(size_notes)
    source = Source(image="0" * 64, strength=strength, mask=None if grey is None else "0" * 64,
                    mask_blur=mask_blur, outpaint=outpaint, inpaint_fill=inpaint_fill)
    problems = check_field("source", source)
    if problems:
        raise ImageProblem(" ".join(p.message for p in problems))
    # Checked before storing, so a bad strength leaves nothing behind.
    source = source.replace(image=store.put(pixels[..., :3]),
                            mask=None if grey is None else store.put(grey))
    return Prepared(source, width, height, notes)


def _as_rgba(pixels: np.ndarray) -> np.ndarray:
    pixels = np.asarray(pixels, np.uint8)
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[..., None], 3, axis=2)
    if pixels.shape[-1] == 3:
        pixels = np.concatenate([pixels, np.full(pixels.shape[:2] + (1,), 255, np.uint8)], axis=2)
    return pixels


def load_pixels(store: SourceStore, source: Source) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """The stored source (RGB) and mask (grey levels) a request names."""
    image = store.get(source.image)[..., :3]
    mask = None if source.mask is None else mask_from_pixels(store.get(source.mask, "mask"))
    return image, mask
