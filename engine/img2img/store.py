"""Source images and masks, kept once in the history folder under their content hash.

A request (and so a queued job and a history entry) names its source by that
hash, which is what lets a job survive a restart and "reuse" restore the source.
Files are PNGs written from the pixels, so the hash names the pixels and the
way we encode them, never the person's original file.
"""
from __future__ import annotations

import hashlib
import io
import os
import uuid
from pathlib import Path
from typing import Optional, Union

import numpy as np
from PIL import Image

from engine.img2img.images import ImageProblem, read_image
from engine.paths import HistoryLocation, history_location
from engine.request import IMAGE_ID_LENGTH


class SourceStore:
    def __init__(self, folder: Union[str, Path]):
        self.folder = Path(folder)

    @classmethod
    def of_history(cls, location: Union[None, str, Path, HistoryLocation] = None) -> "SourceStore":
        return cls(history_location(location).sources_dir)

    def path(self, image_id: str) -> Path:
        return self.folder / f"{image_id}.png"

    def put(self, pixels: np.ndarray) -> str:
        """Stores uint8 pixels (H, W), (H, W, 3) or (H, W, 4); returns their name. Storing the
        same pixels twice keeps one file."""
        data = _png_bytes(pixels)
        image_id = hashlib.sha256(data).hexdigest()
        target = self.path(image_id)
        if target.is_file() and target.stat().st_size == len(data):
            return image_id
        tmp = self.folder / f".tmp-{uuid.uuid4().hex}.png"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except OSError as error:  # a file in its place, a full or read-only disk
            why = error.strerror or str(error)
            raise ImageProblem(f"Cannot keep the source image in {self.folder} ({why.lower()}): "
                               "free some space, or choose another history folder.") from None
        finally:
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass  # the folder itself is the problem, already said
        return image_id

    def get(self, image_id: str, what: str = "source image") -> np.ndarray:
        """RGBA pixels of a stored image; one clear message if it is gone or damaged."""
        if not (isinstance(image_id, str) and len(image_id) == IMAGE_ID_LENGTH):
            raise ImageProblem(f"The {what} is not named by a stored image.")
        path = self.path(image_id)
        if not path.is_file():
            raise ImageProblem(
                f"The {what} of this recipe ({image_id[:12]}…) is not in the history folder "
                f"{self.folder.parent}: open the image again.")
        if hashlib.sha256(path.read_bytes()).hexdigest() != image_id:
            raise ImageProblem(f"The stored {what} {path.name} is damaged: open the image again.")
        return read_image(path, what)

    def find(self, image_id: Optional[str]) -> Optional[Path]:
        return self.path(image_id) if image_id and self.path(image_id).is_file() else None


def _png_bytes(pixels: np.ndarray) -> bytes:
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    buffer = io.BytesIO()
    # No timestamps or text chunks: the same pixels always give the same bytes.
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()
