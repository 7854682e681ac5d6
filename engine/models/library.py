"""The checkpoint files a person has: found in folders or added by hand, each recognised once.

Where they come from, first name wins:
  1. files added with `models add` (used where they lie, never copied),
  2. `<models folder>/checkpoints/`, the app's own folder for them,
  3. extra folders: the `checkpoint_dirs` setting and `--checkpoints-dir` for one run
     (an A1111 `models/Stable-diffusion` or a ComfyUI `models/checkpoints` folder as it is).

A scan reads only each file's header (kilobytes), remembered by path, size and
modification time; the full sha256 (A1111's model hash) is computed once, when the
file is added or first used, and kept in `<models folder>/library.json` with the
person's choices (name, prediction type, VAE).
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Optional

from engine import json_file
from engine.models import families, ldm_import
from engine.models.builtin import BUILT_IN_IDS
from engine.models.hashing import HashProgress, sha256_file
from engine.locations import app_models_dir
from engine.models.safetensors_file import SafetensorsError, SafetensorsFile
from engine.settings_file import read_settings, update_settings

SUFFIX = ".safetensors"
# Pickled PyTorch files: opening one can run any code its author put in it.
PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")
CHECKPOINT_DIRS_SETTING = "checkpoint_dirs"
CATALOGUE = "library.json"
MAX_FILES_PER_FOLDER = 5000  # a folder that big is not a model folder; stop rather than stall


class LibraryError(ValueError):
    """What cannot be done with a file or name, worded for the person."""


@dataclass(frozen=True)
class Checkpoint:
    name: str
    path: Path
    family: str  # families.Family.id ("sd-v1", "sd-v2"); "" when the file cannot be run
    prediction: str  # families.EPSILON or V_PREDICTION
    prediction_set: bool  # chosen by the person rather than guessed from the file
    size: int
    problem: str = ""  # why the file cannot be run ("" when it can)
    vae: Optional[Path] = None
    sha256: Optional[str] = None  # once hashed
    added: bool = False  # by `models add`, rather than found in a folder

    @property
    def usable(self) -> bool:
        return not self.problem

    @property
    def short_hash(self) -> Optional[str]:
        """A1111's `Model hash`: the first 10 hex digits of the file's sha256."""
        return self.sha256[:10] if self.sha256 else None


def checkpoints_dir() -> Path:
    return app_models_dir() / "checkpoints"


def pickle_refusal(path: Path) -> str:
    return (f"{Path(path).name} is a pickled PyTorch file, which can run code when opened, so "
            "SD Desk does not load checkpoints from one. Get the model's .safetensors file "
            "instead (model sites offer it beside the .ckpt), or convert it in a tool you trust.")


def describe(path: Path) -> tuple[str, str, str]:
    """(family id, prediction, problem) of one file, from its header alone: problem is ""
    for a checkpoint we run, else one line saying what the file is or what is wrong."""
    path = Path(path)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        return "", families.EPSILON, pickle_refusal(path)
    try:
        with SafetensorsFile(path) as reader:
            shapes = {key: reader.info(key).shape for key in reader.keys()}
            family = families.recognise(shapes)
            problem = ldm_import.header_problem(family, shapes)
            if problem:
                return "", families.EPSILON, problem
            prediction = families.guess_prediction(family, reader.read, shapes)
    except (SafetensorsError, families.NotACheckpoint) as error:
        return "", families.EPSILON, str(error)
    except OSError as error:
        return "", families.EPSILON, f"it cannot be read ({error.strerror or error})"
    return family.id, prediction, ""


class Library:
    """Thread-safe; one per process (`library()`), rescanned on `refresh()`."""

    def __init__(self, models_dir: Optional[Path] = None):
        self._models_dir = models_dir
        self._lock = threading.RLock()
        self._headers: dict[tuple, tuple[str, str, str]] = {}
        self._extra: list[Path] = []
        self._entries: Optional[list[Checkpoint]] = None

    # -- where -------------------------------------------------------------
    @property
    def models_dir(self) -> Path:
        return self._models_dir or app_models_dir()

    @property
    def catalogue_path(self) -> Path:
        return self.models_dir / CATALOGUE

    def add_folders(self, folders: Iterable[Path]) -> None:
        """Extra folders for this run only (`--checkpoints-dir`)."""
        with self._lock:
            # Absolute, so choices and hashes keyed by path match however the folder was named.
            for folder in (Path(f).expanduser().absolute() for f in folders):
                if folder not in self._extra:  # asked twice (a command's checks, then its run)
                    self._extra.append(folder)
            self._entries = None

    def folders(self) -> list[Path]:
        return [self.models_dir / "checkpoints", *self.saved_folders(), *self._extra]

    def run_folders(self) -> list[Path]:
        """The folders added for this run only, to hand to other processes of the run."""
        with self._lock:
            return list(self._extra)

    def saved_folders(self) -> list[Path]:
        """The extra folders kept in the settings (`checkpoint_dirs`), scanned at every start."""
        setting = read_settings().get(CHECKPOINT_DIRS_SETTING) or []
        return [Path(f).expanduser().absolute() for f in setting if isinstance(f, str) and f.strip()] \
            if isinstance(setting, list) else []

    def save_folder(self, folder: Path, keep: bool = True) -> list[Path]:
        """Adds a folder to the ones scanned at every start (or, with keep=False, removes it)."""
        folder = Path(folder).expanduser().absolute()
        if keep and not folder.is_dir():
            raise LibraryError(f"{folder} is not a folder.")
        saved = [f for f in self.saved_folders() if f != folder] + ([folder] if keep else [])
        update_settings(**{CHECKPOINT_DIRS_SETTING: [str(f) for f in saved] or None})
        self.refresh()
        return saved

    # -- reading -----------------------------------------------------------
    def refresh(self) -> None:
        with self._lock:
            self._entries = None

    def entries(self) -> list[Checkpoint]:
        """Every file found, runnable or not, each under a name no other has."""
        with self._lock:
            if self._entries is None:
                self._entries = self._scan()
            return list(self._entries)

    def usable(self) -> list[Checkpoint]:
        return [c for c in self.entries() if c.usable]

    def find(self, name_or_path: str) -> Optional[Checkpoint]:
        """By name, by path, or by A1111's short hash (reuse after a rename)."""
        entries = self.entries()
        for entry in entries:
            if entry.name == name_or_path:
                return entry
        for entry in entries:
            if entry.short_hash and name_or_path.lower() in (entry.short_hash, entry.sha256):
                return entry
        try:
            wanted = Path(name_or_path).expanduser().resolve()
        except (OSError, ValueError):
            return None
        return next((e for e in entries if e.path.resolve() == wanted), None)

    def _scan(self) -> list[Checkpoint]:
        catalogue = self._read_catalogue()
        paths: list[tuple[Path, bool]] = [(Path(p), True) for p in catalogue["added"]]
        for folder in self.folders():
            paths += [(p, False) for p in _files_in(folder)]
        seen: set[Path] = set()
        taken: set[str] = set(_reserved_names())
        found = []
        for path, added in paths:
            resolved = path.resolve() if path.exists() else path
            if resolved in seen:
                continue
            seen.add(resolved)
            found.append(self._entry(path, added, catalogue, taken))
        return found

    def _entry(self, path: Path, added: bool, catalogue: dict, taken: set[str]) -> Checkpoint:
        choices = catalogue["files"].get(str(path), {})
        try:
            st = path.stat()
        except OSError as error:
            family, prediction, problem = "", families.EPSILON, (
                f"the file is gone ({error.strerror})" if isinstance(error, FileNotFoundError)
                else f"it cannot be read ({error.strerror})")
            size, sha = 0, None
        else:
            key = (str(path), st.st_size, st.st_mtime_ns)
            if key not in self._headers:
                self._headers[key] = describe(path)
            family, prediction, problem = self._headers[key]
            size = st.st_size
            known = catalogue["hashes"].get(str(path))
            sha = known["sha256"] if known and known.get("key") == [st.st_size, st.st_mtime_ns] else None
        name = _unique(choices.get("name") or path.stem, path, taken)
        set_prediction = choices.get("prediction") in families.PREDICTIONS
        vae = choices.get("vae")
        return Checkpoint(name, path, family, choices["prediction"] if set_prediction else prediction,
                          set_prediction, size, problem, Path(vae) if vae else None, sha, added)

    # -- changing ----------------------------------------------------------
    def add(self, path: Path, name: Optional[str] = None,
            on_progress: Optional[HashProgress] = None) -> Checkpoint:
        """Registers a file where it lies; refuses what cannot be run, naming why."""
        path = Path(path).expanduser().absolute()
        if (path / "model_index.json").is_file():
            raise LibraryError(f"{path} is a diffusers-format folder, which SD Desk cannot read "
                               "yet; use the model's single-file .safetensors checkpoint instead.")
        if not path.is_file():
            raise LibraryError(f"No file at {path}.")
        family, _prediction, problem = describe(path)
        if problem:
            raise LibraryError(f"{path.name} cannot be added: {problem}.")
        with self._lock:
            if name is not None:
                self._check_new_name(name, path)
            catalogue = self._read_catalogue()
            if str(path) not in catalogue["added"] and not self._in_folders(path):
                catalogue["added"].append(str(path))
            if name is not None:
                catalogue["files"].setdefault(str(path), {})["name"] = name
            self._write_catalogue(catalogue)
            self._entries = None
        return self.hash(self._by_path(path), on_progress)

    def remove(self, name: str) -> Checkpoint:
        """Forgets a file added by hand (the file itself stays where it is)."""
        entry = self.require(name)
        if not entry.added:
            raise LibraryError(
                f"{name} is found in the folder {entry.path.parent}; move the file out of that "
                "folder (or remove the folder from the list) to stop using it.")
        with self._lock:
            catalogue = self._read_catalogue()
            catalogue["added"] = [p for p in catalogue["added"] if Path(p) != entry.path]
            catalogue["files"].pop(str(entry.path), None)
            self._write_catalogue(catalogue)
            self._entries = None
        return entry

    def rename(self, name: str, new_name: str) -> Checkpoint:
        entry = self.require(name)
        self._check_new_name(new_name, entry.path)
        return self._choose(entry, name=new_name)

    def set_prediction(self, name: str, prediction: Optional[str]) -> Checkpoint:
        """epsilon or v, or None to go back to what the file suggests."""
        if prediction is not None and prediction not in families.PREDICTIONS:
            raise LibraryError(f"Unknown prediction type {prediction!r}; choose "
                               f"{' or '.join(families.PREDICTIONS)}.")
        return self._choose(self.require(name), prediction=prediction)

    def set_vae(self, name: str, vae: Optional[Path]) -> Checkpoint:
        """A VAE file to decode and encode with instead of the checkpoint's own (None: its own)."""
        if vae is not None:
            vae = Path(vae).expanduser().absolute()
            problem = vae_problem(vae)
            if problem:
                raise LibraryError(f"{vae.name} cannot be used as a VAE: {problem}.")
        return self._choose(self.require(name), vae=str(vae) if vae else None)

    def hash(self, entry: Checkpoint, on_progress: Optional[HashProgress] = None) -> Checkpoint:
        """The entry with its sha256, computed once per file version and remembered."""
        if entry.sha256 or not entry.path.is_file():
            return entry
        st = entry.path.stat()
        digest = sha256_file(entry.path, on_progress)
        with self._lock:
            catalogue = self._read_catalogue()
            catalogue["hashes"][str(entry.path)] = {"key": [st.st_size, st.st_mtime_ns], "sha256": digest}
            self._write_catalogue(catalogue)
            self._entries = None
        return replace(entry, sha256=digest)

    # -- helpers -----------------------------------------------------------
    def require(self, name: str) -> Checkpoint:
        entry = self.find(name)
        if entry is None:
            known = ", ".join(c.name for c in self.entries()) or "none yet"
            raise LibraryError(f"No checkpoint named {name!r} (known: {known}).")
        return entry

    def _by_path(self, path: Path) -> Checkpoint:
        return next(e for e in self.entries() if e.path == path)

    def _in_folders(self, path: Path) -> bool:
        return any(_is_within(path, folder) for folder in self.folders())

    def _check_new_name(self, name: str, path: Path) -> None:
        if not name.strip() or name != name.strip() or any(c in name for c in "\n\r\t,"):
            raise LibraryError(f"{name!r} cannot be a model name: use a non-empty name "
                               "without commas, tabs or line breaks at either end.")
        if name in _reserved_names():
            raise LibraryError(f"{name!r} is the name of a built-in model; choose another.")
        other = self.find(name)
        if other is not None and other.path != path and other.name == name:
            raise LibraryError(f"{name!r} is already the name of {other.path}; choose another.")

    def _choose(self, entry: Checkpoint, **choices) -> Checkpoint:
        with self._lock:
            catalogue = self._read_catalogue()
            mine = catalogue["files"].setdefault(str(entry.path), {})
            for key, value in choices.items():
                if value is None:
                    mine.pop(key, None)
                else:
                    mine[key] = value
            self._write_catalogue(catalogue)
            self._entries = None
        return self._by_path(entry.path)

    def _read_catalogue(self) -> dict:
        empty = {"added": [], "files": {}, "hashes": {}}
        data = json_file.read_state(self.catalogue_path, empty)
        if not isinstance(data, dict):
            return empty
        added = data.get("added")
        files, hashes = data.get("files"), data.get("hashes")
        return {"added": [p for p in added if isinstance(p, str)] if isinstance(added, list) else [],
                "files": {k: v for k, v in files.items() if isinstance(v, dict)}
                if isinstance(files, dict) else {},
                "hashes": {k: v for k, v in hashes.items() if isinstance(v, dict)}
                if isinstance(hashes, dict) else {}}

    def _write_catalogue(self, data: dict) -> None:
        json_file.write(self.catalogue_path, data)


def vae_problem(path: Path) -> str:
    """"" when the file is a VAE we can load (on its own, or inside a checkpoint)."""
    if Path(path).suffix.lower() in PICKLE_SUFFIXES:
        return pickle_refusal(path)
    try:
        with SafetensorsFile(path) as reader:
            if families.is_vae({k: reader.info(k).shape for k in reader.keys()}):
                return ""
    except SafetensorsError as error:
        return str(error)
    except OSError as error:
        return f"it cannot be read ({error.strerror or error})"
    return "it holds no VAE (no 'decoder.conv_in.weight' tensor)"


def _reserved_names() -> set[str]:
    return set(BUILT_IN_IDS)


def _unique(name: str, path: Path, taken: set[str]) -> str:
    """A second file with the same name is told apart by its folder, as A1111's list does."""
    candidate = name if name not in taken else f"{path.parent.name}/{name}"
    number = 2
    while candidate in taken:
        candidate = f"{name} ({number})"
        number += 1
    taken.add(candidate)
    return candidate


def _files_in(folder: Path) -> list[Path]:
    """Checkpoint-like files under a folder, subfolders included, in a stable order."""
    found = []
    try:
        for root, dirs, files in os.walk(folder):
            dirs.sort()
            for name in sorted(files):
                if name.lower().endswith((SUFFIX, *PICKLE_SUFFIXES)) and not name.startswith("."):
                    found.append(Path(root) / name)
                    if len(found) >= MAX_FILES_PER_FOLDER:
                        return found
    except OSError:
        return found
    return found


def _is_within(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except (ValueError, OSError):
        return False


_LIBRARY: Optional[Library] = None
_LIBRARY_LOCK = threading.Lock()


def library() -> Library:
    """The process's library (its folders follow the models folder in force)."""
    global _LIBRARY
    with _LIBRARY_LOCK:
        if _LIBRARY is None:
            _LIBRARY = Library()
        return _LIBRARY
