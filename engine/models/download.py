"""Fetching a model's weight files: streamed, resumable, checked, cancellable.

Each file is written to `<name>.part` beside its final place and hashed as it
arrives; only a file whose sha256 matches is renamed (atomically) to its real
name, so nothing half-downloaded can ever be found by the loader. An
interruption (network, cancel, full disk) leaves the `.part` to resume from with
an HTTP Range request; a server that ignores Range gets a clean restart.
"""
from __future__ import annotations

import errno
import hashlib
import http.client
import os
import re
import shutil
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable, Optional

from engine.events import CancelToken
from engine.models.errors import (
    ChecksumMismatch, DiskFull, DownloadError, HttpError, NetworkError, human_size)
from engine.models.registry import WeightFile
from engine.models.status import (
    CORRUPT, INSTALLED, UNVERIFIED, ModelLike, model_status, part_path, resolve_model)
from engine.models.verify import HashCancelled, VerifiedCache, verify_file

USER_AGENT = "sd-desk/0.1 (+https://github.com/keras-team/keras-cv weights)"
# Sizes in the manifest are approximate; ask for a little more than they say.
SPACE_MARGIN = 1.02
_DISK_FULL_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


@dataclass(frozen=True)
class DownloadProgress:
    file_name: str
    file_index: int  # 1-based, among the files this download fetches
    file_count: int
    bytes_done: int  # of this file, resumed bytes included
    bytes_total: Optional[int]  # of this file: the server's figure, else the manifest's estimate
    rate: float  # bytes per second over the last few seconds; 0.0 until known
    eta: Optional[float]  # seconds left for this file; None until a rate is known
    overall_done: int  # all files of this download together
    overall_total: int
    phase: str = "downloading"  # or "checking": hashing a .part before resuming it

    @property
    def fraction(self) -> float:
        return self.overall_done / self.overall_total if self.overall_total else 0.0

    @property
    def overall_eta(self) -> Optional[float]:
        if self.rate <= 0:
            return None
        return max(self.overall_total - self.overall_done, 0) / self.rate


ProgressCallback = Callable[[DownloadProgress], None]


@dataclass
class DownloadResult:
    model_id: str
    cancelled: bool = False
    fetched: list[Path] = field(default_factory=list)  # files put in place by this call
    already_installed: list[Path] = field(default_factory=list)
    bytes_received: int = 0


class _Rate:
    """Bytes per second over a sliding window, so a stall shows up within seconds."""

    def __init__(self, clock: Callable[[], float], window: float = 5.0) -> None:
        self._clock = clock
        self._window = window
        self._samples: deque[tuple[float, int]] = deque()

    def add(self, total_received: int) -> float:
        now = self._clock()
        self._samples.append((now, total_received))
        while len(self._samples) > 2 and now - self._samples[0][0] > self._window:
            self._samples.popleft()
        (t0, b0), (t1, b1) = self._samples[0], self._samples[-1]
        return (b1 - b0) / (t1 - t0) if t1 > t0 else 0.0


def _host(url: str) -> str:
    return urllib.parse.urlsplit(url).netloc or url


def _existing_ancestor(folder: Path) -> Path:
    folder = folder.absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


class Downloader:
    """One model download at a time; the hooks below are what tests and the GUI adjust."""

    chunk_size = 256 * 1024
    timeout = 30.0  # seconds of silence from the server before giving up
    progress_interval = 0.2  # seconds between progress reports (the last one always comes)

    def __init__(
        self,
        on_progress: Optional[ProgressCallback] = None,
        cancel: Optional[CancelToken] = None,
        url_for: Optional[Callable[[WeightFile], str]] = None,
        cache: Optional[VerifiedCache] = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.on_progress = on_progress
        self.cancel = cancel or CancelToken()
        self.url_for = url_for or (lambda wf: wf.url)
        self.cache = cache or VerifiedCache()
        self.clock = clock

    # -- hooks --------------------------------------------------------------

    def free_space(self, folder: Path) -> int:
        return shutil.disk_usage(_existing_ancestor(folder)).free

    def open_part(self, path: Path, append: bool) -> BinaryIO:
        # Unbuffered, so a failed write leaves a file whose length we know.
        return open(path, "ab" if append else "wb", buffering=0)

    def open_url(self, url: str, start: int):
        headers = {"User-Agent": USER_AGENT}
        if start:
            headers["Range"] = f"bytes={start}-"
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                      timeout=self.timeout)

    # -- the work -----------------------------------------------------------

    def download_model(self, model: ModelLike, weights_dir: Optional[Path] = None) -> DownloadResult:
        """Fetch whatever `model` lacks. Returns with `cancelled=True` if cancelled; raises DownloadError."""
        spec = resolve_model(model)
        result = DownloadResult(spec.id)
        status = model_status(spec, weights_dir, cache=self.cache)

        todo = []
        for fs in status.files:
            if fs.state == UNVERIFIED:
                try:
                    ok = verify_file(fs.path, fs.file.sha256, self.cache,
                                     self._check_progress(fs.file.name), self.cancel)
                except HashCancelled:
                    result.cancelled = True
                    return result
                if ok:
                    result.already_installed.append(fs.path)
                    continue
                fs = type(fs)(fs.file, CORRUPT, fs.path, fs.size)
            if fs.state == INSTALLED:
                result.already_installed.append(fs.path)
                continue
            if fs.state == CORRUPT:
                # A damaged file must not stay where the loader would find it.
                _remove(fs.path)
                self.cache.forget(fs.path)
            todo.append(fs)

        self._check_space_for(todo)
        # Estimates until the server states each file's length.
        self._sizes = {fs.name: max(fs.expected_size, fs.size) for fs in todo}
        self._finished_bytes = 0
        for index, fs in enumerate(todo, start=1):
            done = self._fetch(fs.file, fs.path, index, len(todo), result)
            if not done:
                result.cancelled = True
                return result
            result.fetched.append(fs.path)
        return result

    def _check_space_for(self, todo) -> None:
        # Files may go to different folders on one disk: add them up per device.
        need_by_device: dict[int, tuple[Path, int]] = {}
        for fs in todo:
            folder = fs.path.parent
            part = part_path(fs.path)
            have = part.stat().st_size if part.is_file() else 0
            need = int(max(fs.expected_size - have, 0) * SPACE_MARGIN)
            dev = os.stat(_existing_ancestor(folder)).st_dev
            prev_folder, prev_need = need_by_device.get(dev, (folder, 0))
            need_by_device[dev] = (prev_folder, prev_need + need)
        for folder, need in need_by_device.values():
            free = self.free_space(folder)
            if free < need:
                raise DiskFull(
                    f"Not enough free disk space for the download: about {human_size(need)} "
                    f"is needed in {folder}, but only {human_size(free)} is free. "
                    "Free some space, or choose a models folder on another disk, and try again.")

    def _check_progress(self, name: str, index: int = 0, count: int = 0):
        def report(done: int, total: int) -> None:
            if self.on_progress:
                self.on_progress(DownloadProgress(name, index, count, done, total, 0.0, None,
                                                  done, total, phase="checking"))
        return report

    def _fetch(self, wf: WeightFile, final: Path, index: int, count: int,
               result: DownloadResult) -> bool:
        url = self.url_for(wf)
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise DownloadError(f"Cannot create the folder {final.parent}: {e.strerror or e}. "
                                "Choose a models folder you can write to.") from None
        part = part_path(final)
        lock = _PartLock(part.with_name(part.name + ".lock"))
        try:
            locked = lock.acquire()
        except OSError as e:
            raise DownloadError(f"Cannot write in {final.parent}: {e.strerror or e}. "
                                "Choose a models folder you can write to.") from None
        if not locked:
            raise DownloadError(
                f"{wf.name} is already being downloaded (by another window or command). "
                "Wait for that download to finish, then try again.")
        done = False
        try:
            done = self._fetch_locked(wf, url, part, final, index, count, result)
            return done
        finally:
            lock.release(remove=done)

    def _fetch_locked(self, wf: WeightFile, url: str, part: Path, final: Path, index: int,
                      count: int, result: DownloadResult) -> bool:
        digest = hashlib.sha256()
        have = part.stat().st_size if part.is_file() else 0
        if have:
            try:
                # Hash what is already here so the finished file needs no second read.
                with open(part, "rb") as f:
                    hashed = 0
                    report = self._check_progress(wf.name, index, count)
                    while chunk := f.read(1 << 20):
                        if self.cancel.cancelled:
                            return False
                        digest.update(chunk)
                        hashed += len(chunk)
                        report(hashed, have)
            except OSError:
                _remove(part)
                digest, have = hashlib.sha256(), 0

        for _attempt in range(3):
            try:
                response = self.open_url(url, have)
            except urllib.error.HTTPError as e:
                if e.code == 416 and have:
                    # Nothing left past what we hold: either it is all here, or the part is junk.
                    if digest.hexdigest() == wf.sha256:
                        self._finish(wf, part, final)
                        self._finished_bytes += have
                        self._sizes[wf.name] = have
                        return True
                    _remove(part)
                    digest, have = hashlib.sha256(), 0
                    continue
                raise _http_error(wf, url, e) from None
            except (urllib.error.URLError, OSError) as e:
                raise _network_error(wf, url, e, have) from None

            with response:
                status = getattr(response, "status", 200)
                length = response.headers.get("Content-Length")
                length = int(length) if length and length.isdigit() else None
                if have and status == 206:
                    m = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
                    if not m or int(m.group(1)) != have:
                        _remove(part)  # an answer for some other range: start over
                        digest, have = hashlib.sha256(), 0
                        continue
                elif have:
                    # The server ignored Range and sends everything: start cleanly from zero.
                    _remove(part)
                    digest, have = hashlib.sha256(), 0
                total = have + length if length is not None else None
                if total is not None:
                    self._sizes[wf.name] = total
                if total is not None and self.free_space(final.parent) < total - have:
                    raise DiskFull(
                        f"Not enough free disk space for {wf.name}: {human_size(total - have)} "
                        f"more is needed in {final.parent}, but only "
                        f"{human_size(self.free_space(final.parent))} is free. "
                        "Free some space and run the download again; it resumes where it stopped.")
                finished = self._stream(wf, url, response, part, have, digest,
                                        self._sizes[wf.name], index, count, result)
            if finished is None:
                return False
            have = finished
            if total is not None and have < total:
                raise NetworkError(
                    f"The connection to {_host(url)} closed before {wf.name} was complete "
                    f"({human_size(have)} of {human_size(total)}). Run the download again; "
                    "it resumes where it stopped.")
            self._finished_bytes += have
            self._sizes[wf.name] = have
            if digest.hexdigest() != wf.sha256:
                _remove(part)
                raise ChecksumMismatch(
                    f"{wf.name} arrived damaged (its sha256 checksum does not match KerasCV's), "
                    "so it was deleted and will not be used. Run the download again; if this "
                    f"keeps happening, the copy at {_host(url)} may be wrong.")
            self._finish(wf, part, final)
            return True
        raise DownloadError(f"The server at {_host(url)} kept sending the wrong part of "
                            f"{wf.name}; the download was stopped.")

    def _stream(self, wf, url, response, part, have, digest, total, index, count,
                result) -> Optional[int]:
        """Append the body to `part`; the new length, or None if cancelled."""
        rate = _Rate(self.clock)
        received = 0
        last_report = float("-inf")

        def report(force: bool = False) -> None:
            nonlocal last_report
            now = self.clock()
            if not self.on_progress or (not force and now - last_report < self.progress_interval):
                return
            last_report = now
            speed = rate.add(received)
            left = max(total - have, 0) if total else None
            self.on_progress(DownloadProgress(
                wf.name, index, count, have, total, speed,
                left / speed if speed > 0 and left is not None else None,
                self._finished_bytes + have,
                max(sum(self._sizes.values()), self._finished_bytes + have)))

        rate.add(0)
        try:
            out = self.open_part(part, append=have > 0)
        except OSError as e:
            raise _write_error(wf, part, e) from None
        with out:
            while True:
                if self.cancel.cancelled:
                    return None
                try:
                    chunk = response.read(self.chunk_size)
                except (OSError, http.client.HTTPException) as e:
                    out.close()
                    raise _network_error(wf, url, e, have) from None
                if not chunk:
                    break
                try:
                    _write_all(out, chunk)
                except OSError as e:
                    _truncate(out, have)
                    raise _write_error(wf, part, e, have, total) from None
                digest.update(chunk)
                have += len(chunk)
                received += len(chunk)
                result.bytes_received += len(chunk)
                report()
            try:
                out.flush()
                os.fsync(out.fileno())
            except OSError as e:
                raise _write_error(wf, part, e, have, total) from None
        report(force=True)
        return have

    def _finish(self, wf: WeightFile, part: Path, final: Path) -> None:
        try:
            os.replace(part, final)
        except OSError as e:
            # Windows refuses to replace a file another program holds open.
            raise DownloadError(
                f"{wf.name} was downloaded and checked, but could not be put in place at "
                f"{final}: {e.strerror or e}. Close other programs using it and run the "
                "download again; it will not fetch the file a second time.") from None
        self.cache.record(final, wf.sha256, True)


def download_model(
    model: ModelLike,
    on_progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelToken] = None,
    weights_dir: Optional[Path] = None,
    base_url: Optional[str] = None,
    url_for: Optional[Callable[[WeightFile], str]] = None,
) -> DownloadResult:
    """Fetch the files `model` lacks into place (next to an existing copy, else the models folder).

    `weights_dir` downloads into that one folder instead (and looks only there).
    `base_url` fetches every file as `<base_url>/<file name>` (a mirror);
    `url_for` chooses each file's URL outright. Cancelling keeps what was
    fetched, to resume later. Raises DownloadError subclasses.
    """
    if base_url is not None and url_for is None:
        url_for = lambda wf: base_url.rstrip("/") + "/" + urllib.parse.quote(wf.name)  # noqa: E731
    return Downloader(on_progress, cancel, url_for).download_model(model, weights_dir)


class _PartLock:
    """Keeps two downloads (two windows, or two models sharing the decoder) off one `.part`.

    An OS lock, so it vanishes with a crashed process. The lock file goes once its
    weights are in place; one left by a crash is harmless and reused.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = None

    def acquire(self) -> bool:
        """False if someone else holds it; OSError if the folder cannot be written."""
        f = open(self.path, "a+b")
        try:
            if os.name == "nt":
                import msvcrt
                f.seek(0)
                msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)
            else:
                import fcntl
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            return False
        self._file = f
        return True

    def release(self, remove: bool = False) -> None:
        if self._file is None:
            return
        if remove and os.name != "nt":
            _remove(self.path)  # while still held, so no one locks a file about to vanish
        self._file.close()  # closing drops the lock on every platform
        self._file = None
        if remove and os.name == "nt":
            try:
                os.remove(self.path)
            except OSError:
                pass  # another process has it open: it is that one's to clean


def _write_all(out: BinaryIO, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = out.write(view)
        if n is None:  # a non-blocking file would say "try again"; ours never should
            n = 0
        view = view[n:]


def _truncate(out: BinaryIO, length: int) -> None:
    # Cut back to the last whole chunk, whose bytes the running hash has seen.
    try:
        out.truncate(length)
    except OSError:
        pass


def _remove(path: Path) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def _write_error(wf: WeightFile, part: Path, e: OSError, have: int = 0,
                 total: Optional[int] = None) -> DownloadError:
    if e.errno in _DISK_FULL_ERRNOS:
        where = f" after {human_size(have)}" + (f" of {human_size(total)}" if total else "")
        return DiskFull(
            f"The disk is full: {wf.name} stopped{where} in {part.parent}. Free some space "
            "and run the download again; it resumes where it stopped.")
    return DownloadError(f"Could not write {part}: {e.strerror or e}.")


def _network_error(wf: WeightFile, url: str, e: BaseException, have: int) -> NetworkError:
    reason = getattr(e, "reason", e)
    if isinstance(reason, socket.gaierror):
        why = f"the name {urllib.parse.urlsplit(url).hostname} could not be looked up"
    elif isinstance(reason, ConnectionRefusedError):
        why = "the connection was refused"
    elif isinstance(reason, (socket.timeout, TimeoutError)):
        why = "the server stopped answering"
    else:
        why = str(getattr(reason, "strerror", None) or reason) or type(reason).__name__
    resume = (f" {human_size(have)} were kept; running the download again resumes from there."
              if have else "")
    return NetworkError(
        f"Could not download {wf.name} from {_host(url)}: {why}. Check the internet "
        f"connection and try again.{resume} On a computer without internet, copy the files "
        "from another one and use `python main.py models import MODEL FOLDER`.")


def _http_error(wf: WeightFile, url: str, e: urllib.error.HTTPError) -> HttpError:
    hints = {
        401: "the server wants a login this app does not have",
        403: "the server refused access",
        404: "the file is not there any more; an update of SD Desk may know its new place, "
             "or import it from a folder",
        429: "the server is limiting requests; wait a few minutes and try again",
    }
    hint = hints.get(e.code) or ("the server has a problem; try again later" if e.code >= 500
                                 else "the request was refused")
    return HttpError(f"Downloading {wf.name} failed: {_host(url)} answered "
                     f"{e.code} {e.reason} ({hint}).", e.code)
