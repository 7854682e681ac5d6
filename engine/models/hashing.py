"""sha256 of a file in chunks, with progress and cancel: the one hasher for weights and checkpoints."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Callable, Optional

from engine.events import CancelToken

CHUNK = 1 << 20

# (bytes hashed, bytes in all)
HashProgress = Callable[[int, int], None]


class HashCancelled(Exception):
    """Raised inside hashing when the cancel token is set; callers turn it into their own outcome."""


def sha256_file(
    path: Path,
    on_progress: Optional[HashProgress] = None,
    cancel: Optional[CancelToken] = None,
) -> str:
    total = os.path.getsize(path)
    digest = hashlib.sha256()
    done = 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            if cancel is not None and cancel.cancelled:
                raise HashCancelled()
            digest.update(chunk)
            done += len(chunk)
            if on_progress is not None:
                on_progress(done, total)
    return digest.hexdigest()
