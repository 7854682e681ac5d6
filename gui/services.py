"""The one place the window meets the rest of the project.

Everything the GUI needs from the engine, the history store and the weights
manager goes through here, so a change in one of their interfaces touches this
file only. Tests hand the window a Services built from fakes.

Nothing here imports TensorFlow at module import time: the engine module is
imported inside `engine_factory`, which the worker calls on its own thread.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from engine.request import GenerationRequest

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class ModelInfo:
    id: str
    label: str
    state: str  # installed, missing, partial, corrupt, unverified, unknown
    summary: str = ""
    approx_size: int = 0

    @property
    def has_files(self) -> bool:
        """Every file present and sound (hashed or not): what engine.default_model asks."""
        return self.state in ("installed", "unverified")

    @property
    def usable(self) -> bool:
        # Unverified files are used (the engine hashes them on load); the rest need a download.
        return self.state in ("installed", "unverified", "unknown")


@dataclass(frozen=True)
class DroppedRecipe:
    request: Optional[GenerationRequest]  # None: the PNG carries no usable recipe
    source: str  # "sd_desk", "parameters" or "none"
    note: str = ""
    problems: tuple[str, ...] = ()  # one per field the PNG got wrong: the form is left alone


@dataclass
class Services:
    engine_factory: Callable[[], Any]  # worker thread only
    history_factory: Optional[Callable[[], Any]]  # one store per calling thread
    models: Callable[[], list[ModelInfo]]
    read_recipe: Callable[[Path, GenerationRequest], DroppedRecipe]
    download: Optional[Callable[..., Any]] = None  # (model_id, on_progress, cancel) -> result
    import_folder: Optional[Callable[..., Any]] = None  # (model_id, folder, on_progress, cancel)
    data_dir: Optional[Path] = None
    queue_path: Optional[Path] = None  # the database that keeps the job queue; None: in memory
    grids_dir: Optional[Path] = None  # where X/Y plots go; None: the default history's grids
    # engine.img2img.store.SourceStore of the history the window uses: the source panel keeps
    # images there and the engine the factory makes reads them back. None: the default history's.
    sources: Optional[Any] = None


# ---------------------------------------------------------------- engine

def make_engine(weights_dir: Optional[Path] = None, random_weights: bool = False, sources=None):
    """Imports TensorFlow: call on the worker thread only. `sources`: the SourceStore the
    window's source panel writes to (engine/commands/generate.py does the same for the CLI)."""
    from engine.pipeline import Engine
    return Engine(weights_dir=weights_dir, random_weights=random_weights, sources=sources)


# ---------------------------------------------------------------- models

def list_models(weights_dir: Optional[Path] = None) -> list[ModelInfo]:
    """Cheap (no hashing; checkpoints' headers are read once per file version), so the GUI
    thread may call it. Checkpoints added to the folders since the last call are found."""
    from engine.models import registry
    from engine.models.library import library
    from engine.models.status import model_status
    library().refresh()
    infos = []
    for spec in registry.all_models():
        state, summary = "unknown", ""
        try:
            status = model_status(spec.id, weights_dir)
            state, summary = status.state, status.summary()
        except Exception as error:  # noqa: BLE001 - one odd model must not hide the others
            log.warning("status of %s failed: %s", spec.id, error)
        infos.append(ModelInfo(spec.id, spec.label, state, summary, spec.approx_size))
    return infos


def download_model(model_id: str, on_progress, cancel, weights_dir: Optional[Path] = None):
    from engine.models.download import download_model as download
    return download(model_id, on_progress=on_progress, cancel=cancel, weights_dir=weights_dir)


def import_model_folder(model_id: str, folder: Path, on_progress=None, cancel=None,
                        weights_dir: Optional[Path] = None):
    """Hashes gigabytes: call off the GUI thread. Progress comes as ImportProgress."""
    from engine.models.importer import import_model
    report = (lambda name, done, total: on_progress(ImportProgress(name, done, total))) \
        if on_progress else None
    return import_model(model_id, Path(folder), weights_dir=weights_dir, on_progress=report,
                        cancel=cancel)


@dataclass(frozen=True)
class ImportProgress:
    file_name: str
    bytes_done: int
    bytes_total: int

    @property
    def fraction(self) -> float:
        return self.bytes_done / self.bytes_total if self.bytes_total else 0.0


# ---------------------------------------------------------------- dropped PNGs

def read_recipe(path: Path, base: GenerationRequest) -> DroppedRecipe:
    """The request a PNG was made with, laid over `base` (the form) for what it does not say.

    Only a recipe whose every value passes its check is offered: a value out of
    range (Steps -1, a NaN guidance) is named, never clamped into the form.
    """
    from engine import pngmeta
    from engine.models.registry import all_model_ids
    from engine.recipe import REQUEST_FIELDS
    name = Path(path).name
    try:
        meta = pngmeta.read_png_metadata(Path(path))
    except OSError as error:
        return DroppedRecipe(None, "none", f"{name} is not a readable PNG: {error}")
    if meta.recipe is None:
        why = " ".join(p.message for p in meta.problems)
        return DroppedRecipe(None, "none", f"{name} carries no generation parameters."
                             + (f" {why}" if why else ""))
    problems = tuple(p.message for p in meta.recipe.problems
                     if p.field in REQUEST_FIELDS or p.field == "model_label")
    if problems:
        return DroppedRecipe(None, meta.source, f"The recipe in {name} was not used.", problems)
    request = meta.recipe.request(base).replace(batch=base.batch)
    note = ""
    if meta.source == "sd_desk":
        # A checkpoint renamed since is found by the hash the PNG records.
        request = request.replace(model=pngmeta.model_by_hash(request.model, meta.model_hash))
        if request.model not in all_model_ids():
            request = request.replace(model=base.model)
    else:
        label = pngmeta.model_by_hash(meta.recipe.labels.get("model_label") or "", meta.model_hash)
        if label in all_model_ids():
            request = request.replace(model=label)
        else:
            request = request.replace(model=base.model)
            if label:
                note = f"Made with {label}; kept your model choice."
    return DroppedRecipe(request, meta.source, note)


# ---------------------------------------------------------------- history

def open_history():
    """The real store, wrapped for the gallery; a new connection for the calling thread."""
    import engine.history
    from gui.history import StoreAdapter
    return StoreAdapter.open(engine.history)


def default_services(weights_dir: Optional[Path] = None) -> Services:
    from engine.img2img.store import SourceStore
    from engine.paths import history_location
    sources = SourceStore.of_history(history_location())
    return Services(
        engine_factory=lambda: make_engine(weights_dir, sources=sources),
        sources=sources,
        history_factory=open_history,
        queue_path=history_location().db_path,
        grids_dir=history_location().grids_dir,
        models=lambda: list_models(weights_dir),
        read_recipe=read_recipe,
        download=lambda model_id, on_progress, cancel: download_model(
            model_id, on_progress, cancel, weights_dir),
        import_folder=lambda model_id, folder, on_progress, cancel: import_model_folder(
            model_id, folder, on_progress, cancel, weights_dir),
    )
