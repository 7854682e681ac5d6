"""What the source panel hands to its thread: engine/img2img/prepare.py and the store, and
nothing of Qt. Each function returns what the panel shows, or raises prepare()'s ImageProblem."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from engine.img2img.images import ImageProblem
from engine.img2img.prepare import Prepared, canvas_size, load_pixels, prepare

log = logging.getLogger(__name__)


def read_image(store, path: Path, strength: float, mask_blur: int
               ) -> tuple[Prepared, np.ndarray, Optional[np.ndarray], list[str]]:
    """The image stored, its pixels and mask, and prepare()'s notes about the image itself."""
    # The margins are applied afterwards (canvas_size): margins too wide for
    # this image are said then, and do not stop it from opening.
    prepared = prepare(store, Path(path), None, strength=strength, mask_blur=mask_blur)
    image, mask = load_pixels(store, prepared.source)
    size_notes = canvas_size(image.shape[1], image.shape[0])[2]
    return prepared, image, mask, [n for n in prepared.notes if n not in size_notes]


def read_mask(store, pixels: np.ndarray, path: Path) -> tuple[np.ndarray, list[str]]:
    """A mask file at the source's size; prepare() judges it (unreadable, all black, another
    size) with the message and note it gives the CLI."""
    prepared = prepare(store, pixels, Path(path))
    _, mask = load_pixels(store, prepared.source)
    size_notes = canvas_size(pixels.shape[1], pixels.shape[0])[2]
    return fit(mask, pixels.shape[:2]), [n for n in prepared.notes if n not in size_notes]


def fit(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A stored mask at the source's size for the editor (the engine resizes it the same
    way, bilinearly, onto the canvas)."""
    if mask.shape[:2] == tuple(shape):
        return mask
    from PIL import Image
    return np.asarray(Image.fromarray(mask).resize((shape[1], shape[0]), Image.Resampling.BILINEAR))


def guarded(work: Callable[[], Any]) -> Callable[[], Any]:
    """`work`, returning what went wrong instead of raising: an image's own problem as
    prepare() words it, anything else logged and said in a sentence."""
    def run():
        try:
            return work()
        except ImageProblem as error:
            return error
        except Exception as error:  # noqa: BLE001 - shown as a message, logged with its traceback
            log.exception("reading a source image failed")
            return RuntimeError(f"The image could not be used: {error}")
    return run
