"""A folder the person named for a generation's PNG files: checked before, written safely after.

`folder_problem` runs before any model is loaded and changes nothing on disk;
`prepare_folder` creates the folder once a generation will really run, and
proves a file can be written there; `save_to_folder` writes the images under
free names and raises `FolderWriteError` (saying which were written) when the
folder stops taking them, so the caller can point at the copies it kept.
"""
from __future__ import annotations

import os
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Optional

# pngmeta.save_png's temporary names. One older than this cannot be a save in
# progress (a PNG takes milliseconds): it was left by a killed process.
TEMP_GLOB = ".tmp-*.png"
STALE_TEMP_SECONDS = 120


class FolderWriteError(Exception):
    def __init__(self, folder: Path, reason: str, written: list[Path]):
        self.folder, self.reason, self.written = folder, reason, written
        super().__init__(f"cannot write to {folder}: {reason}")


def folder_problem(folder: Path) -> Optional[str]:
    """Why images could not be written into `folder` (created first if need be), or None.

    Creates nothing. A folder that does not exist yet is judged by its nearest
    existing parent.
    """
    try:
        return _folder_problem(Path(folder))
    except (OSError, ValueError) as error:  # a name too long, a NUL, a folder that cannot be read
        return getattr(error, "strerror", None) or str(error)


def _folder_problem(folder: Path) -> Optional[str]:
    existing = folder
    while not existing.exists():
        if existing.is_symlink():
            return f"{existing} is a broken link"
        parent = existing.parent
        if parent == existing:
            break
        existing = parent
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        if _read_only_mount(existing):
            return f"{existing} is on a read-only file system"
        return f"{existing} cannot be written (permission denied)"
    return None


def prepare_folder(folder: Path) -> Optional[str]:
    """Creates `folder` and writes and removes a small file there: why it failed, or None."""
    folder = Path(folder)
    existed = True  # until known: never remove what may have been there
    try:
        existed = folder.exists()
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".sd-desk-probe-{uuid.uuid4().hex}"
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, b"\0" * 4096)
            os.fsync(fd)
        finally:
            os.close(fd)
            probe.unlink()
    except OSError as error:
        if not existed:
            try:
                folder.rmdir()  # leave no empty folder behind for a run that did not happen
            except OSError:
                pass
        return describe_os_error(error)
    except ValueError as error:  # a NUL in the name: no folder can have it
        return str(error)
    return None


def save_to_folder(result, folder: Path) -> list[Path]:
    """Each image of `result` as a PNG carrying its recipe, under a free name in `folder`."""
    from engine.pngmeta import save_png

    folder = Path(folder)
    remove_stale_temps(folder)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    written: list[Path] = []
    for image in result.images:
        try:
            path = _free_name(folder, f"{stamp}-{image.seed}")
            written.append(save_png(path, image.pixels, result.request, image.seed,
                                    result.model_label, result.backend, result.device,
                                    model_hash=result.model_hash,
                                    network_hashes=result.network_hashes))
        except OSError as error:
            raise FolderWriteError(folder, describe_os_error(error), written) from error
    return written


def remove_stale_temps(folder: Path) -> list[Path]:
    """Deletes temporary files a killed save left behind; returns what it removed."""
    removed = []
    cutoff = time.time() - STALE_TEMP_SECONDS
    try:
        candidates = list(Path(folder).glob(TEMP_GLOB))
    except OSError:
        return removed
    for path in candidates:
        try:
            if path.is_file() and not path.is_symlink() and path.stat().st_mtime < cutoff:
                path.unlink()
                removed.append(path)
        except OSError:
            pass  # another process got there first, or the folder is read-only
    return removed


def describe_os_error(error: OSError) -> str:
    """The system's short phrase ("No space left on device"): the caller names the folder,
    and the file involved is only ever a temporary name."""
    return error.strerror or str(error)


def _read_only_mount(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except (AttributeError, OSError):  # no statvfs on Windows
        return False


def _free_name(folder: Path, stem: str) -> Path:
    path, n = folder / f"{stem}.png", 1
    while path.exists():
        n += 1
        path = folder / f"{stem}-{n}.png"
    return path
