"""sha256 checks of weight files, remembered so start-up does not re-hash gigabytes.

A verdict is stored against the file's size, modification time and inode: any of
them changing (a new download, a copy over the top, an edit) makes the file
unverified again. Both good and bad verdicts are kept, so a damaged file shows as
corrupt at the next start without being read again.
"""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Optional

from engine import json_file
from engine.events import CancelToken
from engine.locations import app_data_dir
from engine.models.errors import CorruptWeightFile
from engine.models.hashing import CHUNK, HashCancelled, HashProgress, sha256_file  # noqa: F401 (re-exported)
from engine.models.registry import WeightFile, all_models

CACHE_FILE_NAME = "verified-weights.json"
# One lock for every cache object: the GUI thread and a download worker may both write the file.
_LOCK = threading.Lock()


def _fingerprint(path: Path) -> dict:
    st = os.stat(path)
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "inode": st.st_ino}


class VerifiedCache:
    """A small JSON file: absolute path -> fingerprint, expected sha256 and verdict."""

    def __init__(self, path: Optional[Path] = None) -> None:
        self.path = Path(path) if path is not None else app_data_dir() / CACHE_FILE_NAME
        self._lock = _LOCK

    def _load(self) -> dict:
        # A missing or mangled cache only costs a re-hash; never an error.
        data = json_file.read_state(self.path, {})
        return data if isinstance(data, dict) else {}

    def _save(self, data: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, sort_keys=True)
        os.replace(tmp, self.path)

    def lookup(self, path: Path, sha256: str) -> Optional[bool]:
        """True or False if this exact file was checked against `sha256` before, None if not."""
        try:
            fp = _fingerprint(path)
        except OSError:
            return None
        with self._lock:
            entry = self._load().get(str(Path(path).resolve()))
        if not entry or entry.get("sha256") != sha256:
            return None
        if any(entry.get(k) != v for k, v in fp.items()):
            return None
        return bool(entry.get("ok"))

    def record(self, path: Path, sha256: str, ok: bool) -> None:
        try:
            fp = _fingerprint(path)
        except OSError:
            return
        with self._lock:
            data = self._load()
            data[str(Path(path).resolve())] = {**fp, "sha256": sha256, "ok": ok}
            try:
                self._save(data)
            except OSError:
                pass  # a read-only data folder means re-hashing later, nothing worse

    def forget(self, path: Path) -> None:
        with self._lock:
            data = self._load()
            if data.pop(str(Path(path).resolve()), None) is not None:
                try:
                    self._save(data)
                except OSError:
                    pass


def verify_file(
    path: Path,
    sha256: str,
    cache: Optional[VerifiedCache] = None,
    on_progress: Optional[HashProgress] = None,
    cancel: Optional[CancelToken] = None,
) -> bool:
    """Whether the file's sha256 matches, reading it only when the cache has no verdict."""
    cache = cache or VerifiedCache()
    known = cache.lookup(path, sha256)
    if known is not None:
        return known
    ok = sha256_file(path, on_progress, cancel) == sha256
    cache.record(path, sha256, ok)
    return ok


def check_weight_file(path: Path, wf: WeightFile, cache: Optional[VerifiedCache] = None) -> None:
    """The loader's check (pipeline's FileVerifier): returns quietly, or raises CorruptWeightFile.

    Costs a stat when the file was verified before; otherwise one full read.
    """
    if not verify_file(Path(path), wf.sha256, cache):
        users = [m.id for m in all_models() if any(f.name == wf.name for f in m.files)]
        raise CorruptWeightFile(Path(path), users)
