"""Which model to use when the person has not chosen one."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

from engine.models import registry
from engine.locations import find_file, search_dirs
from engine.models.structure import structure_problem

PREFERRED = "sd-v1.4"
DEMO = "demo"


def has_all_files(model_id: str, weights_dir: Optional[Path] = None) -> bool:
    """Every file present and structurally sound (engine/models/structure.py: milliseconds,
    remembered), so a folder of right names holding wrong bytes is never chosen."""
    dirs = search_dirs(weights_dir)
    for wf in registry.get_model(model_id).files:
        if not wf.required:
            continue
        path = find_file(wf.name, dirs)
        if path is None or structure_problem(path, wf) is not None:
            return False
    return True


_READ = object()  # "ask the saved preference", as opposed to a value (None included) a caller passes


def default_model_id(weights_dir: Optional[Path] = None,
                     has_files: Optional[Callable[[str], bool]] = None,
                     preferred=_READ) -> str:
    """The one rule, for the CLI, the window and the self-test: the default model chosen in
    Edit > Preferences when its files are present, else the first Stable Diffusion model
    whose files are present and sound, else the first checkpoint of the person's library,
    else the built-in demo model.

    `has_files(model_id)` answers from what the caller already knows (the window's
    model list); by default the files are looked for. `preferred` defaults to the saved
    preference (engine.preferences).
    """
    has_files = has_files or (lambda model_id: has_all_files(model_id, weights_dir))
    if preferred is _READ:
        from engine.preferences import default_model
        preferred = default_model()
    if preferred in registry.all_model_ids() and has_files(preferred):
        return preferred
    for spec in registry.STABLE_DIFFUSION_MODELS:
        if has_files(spec.id):
            return spec.id
    for spec in registry.all_models():  # a checkpoint of the person's, before the demo
        if spec.checkpoint is not None and has_files(spec.id):
            return spec.id
    return DEMO if DEMO in registry.all_model_ids() else PREFERRED
