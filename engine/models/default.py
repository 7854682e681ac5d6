"""Which model to use when the person has not chosen one."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from engine.models import registry
from engine.models.locations import find_file, search_dirs

PREFERRED = "sd-v1.4"
DEMO = "demo"


def has_all_files(model_id: str, weights_dir: Optional[Path] = None) -> bool:
    dirs = search_dirs(weights_dir)
    return all(find_file(f.name, dirs) is not None for f in registry.get_model(model_id).files)


def default_model_id(weights_dir: Optional[Path] = None) -> str:
    """Stable Diffusion when its files are present, else the built-in demo model."""
    for spec in registry.STABLE_DIFFUSION_MODELS:
        if has_all_files(spec.id, weights_dir):
            return spec.id
    return DEMO if DEMO in registry.all_model_ids() else PREFERRED
