"""Where LoRA and embedding files live, finding them by the name a prompt uses, and their hashes.

Folders, first wins when two files share a name:
  1. the app's own folder, `<models folder>/loras` or `<models folder>/embeddings`,
  2. folders kept in the settings (`lora_dirs`, `embedding_dirs`), as the checkpoint
     library keeps `checkpoint_dirs`,
  3. folders added for one run (the CLI's `--lora-dir`, `--embeddings-dir`).
Subfolders are scanned too, as A1111 does. A file's name is its stem: what `<lora:NAME:w>`
and an embedding's word in a prompt say.

Hashes are A1111's, so the `Lora hashes` and `TI hashes` we write match what model sites
read: the first 12 hex digits of
  - a LoRA: the sha256 of a .safetensors file's bytes after its header (kohya's "addnet"
    hash, A1111 `modules/hashes.py` addnet_hash_safetensors), or the sha256 kohya's
    trainer wrote in the file's `sshs_model_hash` metadata, which A1111 prefers
    (`extensions-builtin/Lora/network.py`); other files, the whole file's sha256;
  - an embedding: the whole file's sha256 (`modules/textual_inversion/textual_inversion.py`).
They are remembered by path, size and modification time in `<models folder>/network_hashes.json`.
"""
from __future__ import annotations

import hashlib
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

from engine import json_file
from engine.locations import app_models_dir
from engine.models.hashing import CHUNK, HashProgress, sha256_file
from engine.models.safetensors_file import SafetensorsError, SafetensorsFile
from engine.settings_file import read_settings, update_settings

LORA, EMBEDDING = "lora", "embedding"
HASH_CACHE = "network_hashes.json"
SHORT_HASH = 12  # hex digits A1111 writes for both
MAX_FILES_PER_FOLDER = 5000  # a folder that big is not a LoRA folder; stop rather than stall
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


@dataclass(frozen=True)
class _Kind:
    folder: str  # under the models folder
    suffixes: tuple[str, ...]
    setting: str  # where kept folders are saved
    label: str


KINDS = {
    LORA: _Kind("loras", (".safetensors",), "lora_dirs", "LoRA"),
    EMBEDDING: _Kind("embeddings", (".pt", ".safetensors", ".bin"), "embedding_dirs", "embedding"),
}


class NetworkFileError(ValueError):
    """A folder that cannot be kept, a file that cannot be hashed, or an unknown kind: one
    sentence for the person."""


@dataclass(frozen=True)
class NetworkFile:
    kind: str  # LORA or EMBEDDING
    name: str  # the file's stem: what <lora:NAME:w> and an embedding's word use
    path: Path


def _kind(kind: str) -> _Kind:
    try:
        return KINDS[kind]
    except KeyError:
        raise NetworkFileError(f"Unknown kind of file {kind!r}; choose "
                                 f"{' or '.join(KINDS)}.") from None


# ----------------------------------------------------------------------------- folders

_lock = threading.RLock()
_run_folders: dict[str, list[Path]] = {kind: [] for kind in KINDS}


def default_dir(kind: str, create: bool = False) -> Path:
    """The app's own folder for this kind (made when `create`, for a person to fill)."""
    folder = app_models_dir() / _kind(kind).folder
    if create:
        folder.mkdir(parents=True, exist_ok=True)
    return folder


def folders(kind: str) -> list[Path]:
    """Every folder scanned for this kind, in the order that decides a shared name."""
    with _lock:
        run = list(_run_folders[kind])
    found: list[Path] = []
    for folder in (default_dir(kind), *saved_folders(kind), *run):
        if folder not in found:
            found.append(folder)
    return found


def lora_dirs() -> list[Path]:
    return folders(LORA)


def embedding_dirs() -> list[Path]:
    return folders(EMBEDDING)


def run_folders(kind: str) -> list[Path]:
    """The folders added for this run only, to hand to other processes of the run."""
    _kind(kind)  # an unknown kind is named, not a KeyError
    with _lock:
        return list(_run_folders[kind])


def add_run_folders(kind: str, extra: Iterable[Path]) -> None:
    """Folders for this run only (the CLI's --lora-dir, --embeddings-dir): never saved."""
    _kind(kind)
    with _lock:
        for folder in (Path(f).expanduser().absolute() for f in extra):
            if folder not in _run_folders[kind]:  # asked twice (a command's checks, then its run)
                _run_folders[kind].append(folder)


def saved_folders(kind: str) -> list[Path]:
    """The folders kept in the settings, scanned at every start."""
    setting = read_settings().get(_kind(kind).setting) or []
    return [Path(f).expanduser().absolute() for f in setting if isinstance(f, str) and f.strip()] \
        if isinstance(setting, list) else []


def save_folder(kind: str, folder: Path, keep: bool = True) -> list[Path]:
    """Adds a folder to the ones scanned at every start (or, with keep=False, removes it)."""
    spec = _kind(kind)
    folder = Path(folder).expanduser().absolute()
    if keep and not folder.is_dir():
        raise NetworkFileError(f"{folder} is not a folder, so it cannot hold {spec.label} files.")
    saved = [f for f in saved_folders(kind) if f != folder] + ([folder] if keep else [])
    update_settings(**{spec.setting: [str(f) for f in saved] or None})
    return saved


# ----------------------------------------------------------------------------- files

def list_files(kind: str) -> list[NetworkFile]:
    """The files a prompt can name, one per name, sorted by name."""
    return sorted(_scan(kind)[0], key=lambda f: (f.name.lower(), f.name))


def duplicates(kind: str) -> list[NetworkFile]:
    """Files hidden by an earlier file of the same name (an earlier folder, or earlier in
    the same folder's order), in scan order: worth telling the person about."""
    return _scan(kind)[1]


def find(kind: str, name: str) -> Optional[NetworkFile]:
    """By exact name first, then ignoring case (prompts copied from elsewhere vary in it)."""
    files = _scan(kind)[0]
    for file in files:
        if file.name == name:
            return file
    folded = name.casefold()
    return next((file for file in files if file.name.casefold() == folded), None)


def _scan(kind: str) -> tuple[list[NetworkFile], list[NetworkFile]]:
    suffixes = _kind(kind).suffixes
    winners: dict[str, NetworkFile] = {}
    shadowed: list[NetworkFile] = []
    seen: set[Path] = set()
    for folder in folders(kind):
        for path in _files_in(folder, suffixes):
            real = path.resolve()
            if real in seen:  # a folder listed twice, or one inside another
                continue
            seen.add(real)
            file = NetworkFile(kind, path.stem, path)
            if file.name in winners:
                shadowed.append(file)
            else:
                winners[file.name] = file
    return list(winners.values()), shadowed


def _files_in(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """Matching files under a folder, subfolders included, files before subfolders, each
    sorted by name; hidden and empty files left out (A1111 skips empty ones too)."""
    found: list[Path] = []
    visited: set[Path] = set()
    try:
        for root, dirs, files in os.walk(folder, followlinks=True):
            real = Path(root).resolve()
            if real in visited:  # a link back up the tree
                dirs[:] = []
                continue
            visited.add(real)
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                if name.startswith(".") or not name.lower().endswith(suffixes):
                    continue
                path = Path(root) / name
                try:
                    if not path.is_file() or path.stat().st_size == 0:
                        continue
                except OSError:
                    continue
                found.append(path)
                if len(found) >= MAX_FILES_PER_FOLDER:
                    return found
    except OSError:
        return found
    return found


# ----------------------------------------------------------------------------- hashes

def lora_hash(path: Path, on_progress: Optional[HashProgress] = None) -> str:
    """A1111's `Lora hashes` value for the file (12 hex digits)."""
    path = Path(path)
    try:
        return _lora_hash(path, on_progress)
    except OSError as error:
        raise NetworkFileError(f"{path.name} cannot be read ({error.strerror or error}).") from None


def _lora_hash(path: Path, on_progress: Optional[HashProgress]) -> str:
    if path.suffix.lower() != ".safetensors":
        return _cached(LORA, path, lambda: sha256_file(path, on_progress))[:SHORT_HASH]
    try:
        with SafetensorsFile(path) as reader:
            written = reader.metadata.get("sshs_model_hash", "")
    except SafetensorsError as problem:
        raise NetworkFileError(f"{path.name} cannot be hashed as a LoRA: {problem}.") from None
    if _HEX64.fullmatch(written):  # kohya's trainer's own addnet hash, which A1111 prefers
        return written[:SHORT_HASH].lower()
    return _cached(LORA, path, lambda: _sha256_after_header(path, on_progress))[:SHORT_HASH]


def embedding_hash(path: Path, on_progress: Optional[HashProgress] = None) -> str:
    """A1111's `TI hashes` value for the file (12 hex digits of its sha256)."""
    path = Path(path)
    try:
        return _cached(EMBEDDING, path, lambda: sha256_file(path, on_progress))[:SHORT_HASH]
    except OSError as error:
        raise NetworkFileError(f"{path.name} cannot be read ({error.strerror or error}).") from None


def hashes_text(hashes: Iterable[tuple[str, str]]) -> str:
    """`name: hash, name: hash`, as A1111 writes `Lora hashes` and `TI hashes` (it drops
    colons and commas from names, which would break the list)."""
    return ", ".join(f"{name.replace(':', '').replace(',', '')}: {value}" for name, value in hashes)


def _sha256_after_header(path: Path, on_progress: Optional[HashProgress]) -> str:
    """kohya's addnet hash: the tensor bytes only, so editing the metadata keeps it."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        total = os.fstat(handle.fileno()).st_size
        handle.seek(8 + int.from_bytes(handle.read(8), "little"))
        done = handle.tell()
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            done += len(chunk)
            if on_progress is not None:
                on_progress(done, total)
    return digest.hexdigest()


_hash_lock = threading.Lock()


def _cache_path() -> Path:
    return app_models_dir() / HASH_CACHE


def _cached(kind: str, path: Path, compute) -> str:
    """The full sha256, from the cache when the file has not changed since."""
    path = path.absolute()
    st = path.stat()
    stamp = [st.st_size, st.st_mtime_ns]
    with _hash_lock:
        known = _read_cache()[kind].get(str(path))
    if known and known.get("key") == stamp and isinstance(known.get("sha256"), str) \
            and _HEX64.fullmatch(known["sha256"]):
        return known["sha256"]
    digest = compute()
    with _hash_lock:  # read again: another thread may have written meanwhile
        cache = _read_cache()
        cache[kind][str(path)] = {"key": stamp, "sha256": digest}
        for section in cache.values():  # forget files that are gone, so the cache stays small
            for stale in [p for p in section if not os.path.exists(p)]:
                del section[stale]
        _write_cache(cache)
    return digest


def _read_cache() -> dict:
    data = json_file.read_state(_cache_path(), {})
    data = data if isinstance(data, dict) else {}
    return {kind: {p: e for p, e in section.items() if isinstance(e, dict)}
            if isinstance(section := data.get(kind), dict) else {} for kind in KINDS}


def _write_cache(data: dict) -> None:
    json_file.write(_cache_path(), data)
