"""Reading a person's source image or mask: any file, one clear message when it is not usable."""
from __future__ import annotations

import os
import stat
import struct
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from engine.errors import EngineError
from engine.request import MAX_SIDE, MIN_SIDE

# Far above any canvas (1024 px a side) but small enough to decode in memory at once;
# Pillow's own decompression-bomb limit (about 89 Mpx) stays below its error threshold.
MAX_PIXELS = 50_000_000
# No canvas is more elongated than MAX_SIDE:MIN_SIDE (8:1); a source is fitted to one and
# stretched where it is more elongated. Up to eight times that is an odd but usable image (a
# banner to outpaint); beyond it, a strip of pixels that no canvas can show.
MAX_ASPECT = 8 * MAX_SIDE // MIN_SIDE


class ImageProblem(EngineError):
    """A source image or mask that cannot be used, and why, worded for a person."""


def read_image(path, what: str = "source image") -> np.ndarray:
    """uint8 (H, W, 4) RGBA pixels of the image file at `path` (RGB gets opaque alpha)."""
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with _open_regular_file(path, what) as handle, Image.open(handle) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise ImageProblem(
                        f"The {what} {path.name} is {width}x{height} pixels, too large to open "
                        f"(the limit is {MAX_PIXELS // 1_000_000} million pixels): scale it down first.")
                if max(width, height) > MAX_ASPECT * max(1, min(width, height)):
                    raise ImageProblem(
                        f"The {what} {path.name} is {width}x{height} pixels, too narrow to use "
                        f"(at most {MAX_ASPECT}:1; a canvas is at most {MAX_SIDE // MIN_SIDE}:1): "
                        "crop it first.")
                image.load()
                # As a viewer shows it: a phone's photo is stored sideways with a turn in EXIF.
                return np.asarray(_rgba(_eight_bit(_upright(image))), dtype=np.uint8).copy()
    except ImageProblem:
        raise
    except FileNotFoundError:
        raise ImageProblem(f"There is no {what} at {path}.") from None
    except IsADirectoryError:
        raise ImageProblem(f"{path} is a folder, not a {what}.") from None
    except PermissionError:
        raise ImageProblem(f"The {what} {path} cannot be read: permission denied.") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageProblem(f"The {what} {path.name} is too large to open safely: scale it down first.") from None
    except UnidentifiedImageError:
        raise ImageProblem(f"The {what} {path.name} is not an image Pillow can read "
                           "(PNG, JPEG, WebP, BMP, TIFF…).") from None
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        raise ImageProblem(f"The {what} {path.name} is damaged or truncated ({error}).") from None


def _open_regular_file(path: Path, what: str):
    """The file at `path` opened for reading, if it is a regular file. Opened without waiting
    and checked on the open descriptor, so a named pipe (which would be read for ever) or a
    device is refused at once, and nothing can be swapped in between the check and the read."""
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        kind = os.fstat(descriptor).st_mode
        if stat.S_ISDIR(kind):
            raise IsADirectoryError(path)
        if not stat.S_ISREG(kind):
            raise ImageProblem(f"The {what} {path.name} is not a regular file (a named pipe, socket "
                               "or device): save the image to a file and give that.")
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


def _upright(image: Image.Image) -> Image.Image:
    try:
        return ImageOps.exif_transpose(image)
    except (ValueError, TypeError, KeyError, IndexError, OSError, SyntaxError, struct.error):
        return image  # damaged EXIF: the pixels as stored are still the image


def _eight_bit(image: Image.Image) -> Image.Image:
    """A single-channel image of more than 8 bits as 8-bit grey levels, by its own range:
    Pillow's convert() clips 16-bit levels (a 16-bit grey reads near-white) and rounds a
    float image's 0-1 levels to 0 and 1 (it reads black)."""
    if image.mode == "F":
        levels = np.nan_to_num(np.asarray(image, dtype=np.float64), nan=0.0)
        if levels.size and levels.max() <= 1.0:  # floats in 0-1, as TIFF and EXR tools write them
            levels = levels * 255.0
    elif image.mode == "I" or image.mode.startswith("I;16"):
        # 16-bit files open as I;16 or as 32-bit I; both hold levels of 0-65535.
        levels = np.asarray(image, dtype=np.float64) / 257.0
    else:
        return image
    return Image.fromarray(np.clip(np.round(levels), 0, 255).astype(np.uint8), "L")


def _rgba(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        return image.convert("RGBA")
    return image.convert("RGB").convert("RGBA")


def has_transparency(pixels: np.ndarray) -> bool:
    return pixels.shape[-1] == 4 and bool((pixels[..., 3] < 255).any())


def mask_from_pixels(pixels: np.ndarray) -> np.ndarray:
    """A mask image (white repaints) as uint8 (H, W) grey levels: its luminance where it is
    opaque; a transparent area counts as black (kept)."""
    rgb = pixels[..., :3].astype(np.float32)
    grey = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
    if pixels.shape[-1] == 4:
        grey = grey * (pixels[..., 3].astype(np.float32) / 255.0)
    return np.clip(np.round(grey), 0, 255).astype(np.uint8)


def mask_from_alpha(pixels: np.ndarray) -> np.ndarray:
    """A source's own transparency as a mask: transparent is repainted (white)."""
    return (255 - pixels[..., 3]).astype(np.uint8)
