"""Whether a model's weights are here, half here, damaged or absent.

Cheap by default: a present file counts as installed only when the verified
cache vouches for it, otherwise it is "unverified" until someone pays for the
hash (`verify=True`, best done off the GUI thread). Every present file's
structure is checked too (milliseconds, remembered): a file whose structure is
wrong is corrupt whatever its hash or folder.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Union

from engine.events import CancelToken
from engine.errors import MissingWeights
from engine.models.errors import CorruptWeights, human_size
from engine.locations import app_models_dir, find_file, search_dirs
from engine.models.registry import ModelSpec, WeightFile, get_model
from engine.models.structure import check_structure, structure_problem
from engine.models.verify import HashCancelled, VerifiedCache, verify_file

INSTALLED, MISSING, PARTIAL, CORRUPT, UNVERIFIED = (
    "installed", "missing", "partial", "corrupt", "unverified")
PART_SUFFIX = ".part"

# (file name, bytes hashed, bytes in the file)
VerifyProgress = Callable[[str, int, int], None]
ModelLike = Union[str, ModelSpec]


def resolve_model(model: ModelLike) -> ModelSpec:
    return model if isinstance(model, ModelSpec) else get_model(model)


def download_dir(weights_dir: Optional[Path] = None) -> Path:
    """New files go to the folder the user named, else to our models folder."""
    return Path(weights_dir) if weights_dir is not None else app_models_dir()


def part_path(final: Path) -> Path:
    # A suffix after the real name: find_file() looks for exact names, so a
    # half-downloaded file can never be picked up as the weights themselves.
    return final.with_name(final.name + PART_SUFFIX)


def target_path(wf: WeightFile, weights_dir: Optional[Path] = None) -> Path:
    """Where this file is, or will be: replacing a file in place keeps find_file() pointing at it."""
    found = find_file(wf.name, search_dirs(weights_dir))
    return found if found is not None else download_dir(weights_dir) / wf.name


@dataclass(frozen=True)
class FileStatus:
    file: WeightFile
    state: str
    path: Path  # the file, or where it will be put
    size: int  # bytes on disk: the file, the .part, or 0
    problem: Optional[str] = None  # what is wrong with a corrupt file's structure

    @property
    def name(self) -> str:
        return self.file.name

    @property
    def expected_size(self) -> int:
        """Approximate (KerasCV publishes no sizes); fine for a progress bar or a disk check."""
        return self.file.approx_size


@dataclass(frozen=True)
class ModelStatus:
    model_id: str
    state: str
    files: list[FileStatus]

    @property
    def ready(self) -> bool:
        return self.state == INSTALLED

    def files_in(self, *states: str) -> list[FileStatus]:
        return [f for f in self.files if f.state in states]

    @property
    def bytes_present(self) -> int:
        return sum(f.size for f in self.files if f.state in (INSTALLED, UNVERIFIED))

    @property
    def bytes_to_download(self) -> int:
        """Approximate: what a download would still fetch, counting resumable parts as done."""
        todo = 0
        for f in self.files:
            if f.state in (MISSING, CORRUPT):
                todo += f.expected_size
            elif f.state == PARTIAL:
                todo += max(f.expected_size - f.size, 0)
        return todo

    def summary(self) -> str:
        if self.state == INSTALLED:
            lacking = [f for f in self.files_in(MISSING, PARTIAL) if not f.file.required]
            if lacking:
                return "installed; " + "; ".join(
                    f"{f.file.only_for} needs {f.name} (about {human_size(f.expected_size)})"
                    for f in lacking)
            return "installed"
        if self.state == UNVERIFIED:
            return "present, not yet verified"
        names = ", ".join(f.name for f in self.files_in(MISSING, PARTIAL, CORRUPT))
        need = human_size(self.bytes_to_download)
        if self.state == CORRUPT:
            return f"damaged file(s), need a fresh download (about {need}): {names}"
        if self.state == PARTIAL:
            return f"download interrupted, about {need} left: {names}"
        return f"missing {names} (about {need})"


def _combine(states: list[str]) -> str:
    for state in (CORRUPT, PARTIAL, MISSING, UNVERIFIED):
        if state in states:
            return state
    return INSTALLED


def file_status(
    wf: WeightFile,
    weights_dir: Optional[Path] = None,
    verify: bool = False,
    cache: Optional[VerifiedCache] = None,
    on_progress: Optional[VerifyProgress] = None,
    cancel: Optional[CancelToken] = None,
) -> FileStatus:
    cache = cache or VerifiedCache()
    found = find_file(wf.name, search_dirs(weights_dir))
    if found is None:
        dest = download_dir(weights_dir) / wf.name
        part = part_path(dest)
        part_size = part.stat().st_size if part.is_file() else 0
        return FileStatus(wf, PARTIAL if part_size else MISSING, dest, part_size)

    size = found.stat().st_size
    problem = structure_problem(found, wf)
    if problem is not None:
        return FileStatus(wf, CORRUPT, found, size, problem)
    verdict = cache.lookup(found, wf.sha256)
    if verdict is None and verify:
        progress = (lambda d, t: on_progress(wf.name, d, t)) if on_progress else None
        try:
            verdict = verify_file(found, wf.sha256, cache, progress, cancel)
        except HashCancelled:
            verdict = None
    if verdict is None:
        return FileStatus(wf, UNVERIFIED, found, size)
    return FileStatus(wf, INSTALLED if verdict else CORRUPT, found, size)


def model_status(
    model: ModelLike,
    weights_dir: Optional[Path] = None,
    verify: bool = False,
    cache: Optional[VerifiedCache] = None,
    on_progress: Optional[VerifyProgress] = None,
    cancel: Optional[CancelToken] = None,
) -> ModelStatus:
    """Each file's state and the model's overall one.

    Without `verify`, nothing is hashed and the call takes milliseconds; files the
    cache knows nothing about come back "unverified".
    """
    spec = resolve_model(model)
    cache = cache or VerifiedCache()
    files = [file_status(wf, weights_dir, verify, cache, on_progress, cancel) for wf in spec.files]
    # A missing file that only some requests need leaves the model installed; a damaged one does not.
    counted = [f.state for f in files if f.file.required or f.state not in (MISSING, PARTIAL)]
    return ModelStatus(spec.id, _combine(counted), files)


def require_installed(
    model: ModelLike,
    weights_dir: Optional[Path] = None,
    cache: Optional[VerifiedCache] = None,
    on_progress: Optional[VerifyProgress] = None,
    cancel: Optional[CancelToken] = None,
    verify: bool = True,
) -> dict[str, Path]:
    """role -> path of verified files, for the loader; raises what the person needs to hear otherwise.

    Hashes only files the cache does not vouch for, so the first load after a
    download through this app costs nothing extra; `verify=False` only finds them
    and checks their structure (milliseconds: fit to run before any model is built).
    Raises MissingWeights, CorruptWeights (DamagedWeightFile for a wrong structure),
    or HashCancelled when `cancel` stopped the check.
    """
    spec = resolve_model(model)
    status = model_status(spec, weights_dir, verify, cache, on_progress, cancel)
    places = [str(d) for d in search_dirs(weights_dir)]
    absent = [f for f in status.files_in(MISSING, PARTIAL) if f.file.required]
    if absent:
        raise MissingWeights(spec.id, [(f.name, places) for f in absent])
    corrupt = status.files_in(CORRUPT)
    for f in corrupt:
        if f.problem is not None:
            check_structure(f.path, f.file)  # raises, naming what is wrong
    if corrupt:
        raise CorruptWeights(spec.id, [f.path for f in corrupt])
    if verify and status.files_in(UNVERIFIED):  # hashing was cancelled
        raise HashCancelled()
    return {f.file.role: f.path for f in status.files if f.state not in (MISSING, PARTIAL)}


def optional_missing(status: "ModelStatus") -> list[FileStatus]:
    """Files only some requests need (the image encoder) that are not there."""
    return [f for f in status.files_in(MISSING, PARTIAL) if not f.file.required]



def require_image_encoder(model: ModelLike, weights_dir: Optional[Path] = None) -> Optional[Path]:
    """The image encoder's file, which only image to image needs: found and sound, or
    MissingWeights / DamagedWeightFile naming it (milliseconds: no hashing). None for a
    single-file checkpoint, whose VAE carries its encoder."""
    spec = resolve_model(model)
    if spec.is_single_file:
        return None
    wf = spec.file_for("image_encoder")
    dirs = search_dirs(weights_dir)
    path = find_file(wf.name, dirs)
    if path is None:
        raise MissingWeights(spec.id, [(f"{wf.name} (image to image needs it)", [str(d) for d in dirs])])
    check_structure(path, wf)
    return path
