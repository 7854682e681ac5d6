"""Which model to use when the person has not chosen one."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from engine.models import registry
from engine.models.locations import find_file, search_dirs
from engine.models.structure import structure_problem

PREFERRED = "sd-v1.4"
DEMO = "demo"


def has_all_files(model_id: str, weights_dir: Optional[Path] = None) -> bool:
    """Every file present and structurally sound (engine/models/structure.py: milliseconds,
    remembered), so a folder of right names holding wrong bytes is never chosen."""
    dirs = search_dirs(weights_dir)
    for wf in registry.get_model(model_id).files:
        path = find_file(wf.name, dirs)
        if path is None or structure_problem(path, wf) is not None:
            return False
    return True


def default_model_id(weights_dir: Optional[Path] = None) -> str:
    """Stable Diffusion when its files are present and sound, else the built-in demo model."""
    for spec in registry.STABLE_DIFFUSION_MODELS:
        if has_all_files(spec.id, weights_dir):
            return spec.id
    return DEMO if DEMO in registry.all_model_ids() else PREFERRED
