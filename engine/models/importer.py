"""Taking weight files from a folder (a USB stick, a copy from another machine) into place.

Every file is checked against the manifest's sha256 before it is put where the
loader looks. On the same disk a hard link costs no space and no copying;
elsewhere the file is copied and hashed in the same pass, so the copy that
lands is the one that was checked.
"""
from __future__ import annotations

import errno
import hashlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from engine.events import CancelToken
from engine.models.errors import DiskFull, EngineError, ImportFolderError, human_size
from engine.models.registry import WeightFile
from engine.models.status import (
    INSTALLED, UNVERIFIED, ModelLike, VerifyProgress, model_status, resolve_model)
from engine.models.verify import CHUNK, HashCancelled, VerifiedCache, sha256_file, verify_file

IMPORT_SUFFIX = ".importing"


@dataclass
class ImportReport:
    model_id: str
    imported: list[Path] = field(default_factory=list)  # where the new files now are
    linked: list[Path] = field(default_factory=list)  # those of them that are hard links
    already_installed: list[Path] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # names not found in the folder
    corrupt: list[Path] = field(default_factory=list)  # files in the folder that failed the check
    cancelled: bool = False

    @property
    def complete(self) -> bool:
        return not (self.missing or self.corrupt or self.cancelled)

    def summary(self) -> str:
        lines = [f"{len(self.imported)} file(s) imported, "
                 f"{len(self.already_installed)} already installed."]
        if self.corrupt:
            lines.append("Damaged (checksum mismatch), not imported: "
                         + ", ".join(str(p) for p in self.corrupt))
        if self.missing:
            lines.append("Not in the folder: " + ", ".join(self.missing))
        if self.cancelled:
            lines.append("Stopped before the end; run the import again to finish.")
        elif self.complete:
            lines.append(f"Model {self.model_id} is ready.")
        return "\n".join(lines)


def import_model(
    model: ModelLike,
    folder: Path,
    weights_dir: Optional[Path] = None,
    on_progress: Optional[VerifyProgress] = None,
    cancel: Optional[CancelToken] = None,
    cache: Optional[VerifiedCache] = None,
) -> ImportReport:
    """Verify and place every file of `model` that `folder` holds; damaged ones are left out.

    Files go where a download would put them. Raises ImportFolderError when the
    folder cannot be read, DiskFull when a copy does not fit.
    """
    spec = resolve_model(model)
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise ImportFolderError(f"{folder} is not a folder that can be read.")
    cache = cache or VerifiedCache()
    cancel = cancel or CancelToken()
    report = ImportReport(spec.id)
    status = model_status(spec, weights_dir, cache=cache)

    for fs in status.files:
        wf = fs.file
        src = folder / wf.name
        progress = (lambda d, t, n=wf.name: on_progress(n, d, t)) if on_progress else None
        try:
            if fs.state == UNVERIFIED and verify_file(fs.path, wf.sha256, cache, progress, cancel):
                report.already_installed.append(fs.path)
                continue
            if fs.state == INSTALLED:
                report.already_installed.append(fs.path)
                continue
            if not src.is_file():
                report.missing.append(wf.name)
                continue
            if fs.path.exists() and os.path.samefile(src, fs.path):
                # Importing from the folder the file already lives in: it was just found corrupt.
                report.corrupt.append(src)
                continue
            placed = _place(wf, src, fs.path, cache, progress, cancel, report)
        except HashCancelled:
            report.cancelled = True
            return report
        except OSError as e:
            raise EngineError(f"Could not import {wf.name} from {folder}: "
                              f"{e.strerror or e}.") from None
        if placed is None:
            report.corrupt.append(src)
    return report


def _place(wf: WeightFile, src: Path, dest: Path, cache: VerifiedCache,
           progress, cancel: CancelToken, report: ImportReport) -> Optional[Path]:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + IMPORT_SUFFIX)
    _remove(tmp)
    try:
        os.link(src, tmp)
        linked = True
    except OSError:
        # Another disk, or a file system without hard links (FAT, some shares): copy.
        linked = False
    if linked:
        try:
            ok = sha256_file(tmp, progress, cancel) == wf.sha256
        except BaseException:
            _remove(tmp)
            raise
        if not ok:
            _remove(tmp)
            return None
    elif not _copy_checked(wf, src, tmp, progress, cancel):
        return None
    os.replace(tmp, dest)
    cache.record(dest, wf.sha256, True)
    report.imported.append(dest)
    if linked:
        report.linked.append(dest)
    return dest


def _copy_checked(wf: WeightFile, src: Path, tmp: Path, progress, cancel: CancelToken) -> bool:
    size = os.path.getsize(src)
    free = shutil.disk_usage(tmp.parent).free
    if free < size:
        raise DiskFull(f"Not enough free disk space to import {wf.name}: it needs "
                       f"{human_size(size)} in {tmp.parent}, but only {human_size(free)} is free.")
    digest = hashlib.sha256()
    done = 0
    try:
        with open(src, "rb") as fin, open(tmp, "wb") as fout:
            while chunk := fin.read(CHUNK):
                if cancel.cancelled:
                    raise HashCancelled()
                digest.update(chunk)
                fout.write(chunk)
                done += len(chunk)
                if progress:
                    progress(done, size)
            fout.flush()
            os.fsync(fout.fileno())
    except HashCancelled:
        _remove(tmp)
        raise
    except OSError as e:
        _remove(tmp)
        if e.errno == errno.ENOSPC:
            raise DiskFull(f"The disk is full: importing {wf.name} into {tmp.parent} "
                           "stopped. Free some space and try again.") from None
        raise EngineError(f"Could not import {wf.name}: {e.strerror or e}.") from None
    if digest.hexdigest() != wf.sha256:
        _remove(tmp)
        return False
    return True


def _remove(path: Path) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
