"""Where KerasCV is installed, and its Stable Diffusion constants (the noise schedule,
the unconditional tokens) read as the plain data file they are, without importing
Keras or KerasCV. Low in the engine's layers: the schedule and the backends both read it.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType


def kerascv_root() -> Path:
    loaded = sys.modules.get("keras_cv")
    if loaded is not None and getattr(loaded, "__path__", None):
        # The real package, or the plain one backends/kerascv_modules.py registers (no spec).
        return Path(list(loaded.__path__)[0])
    spec = importlib.util.find_spec("keras_cv")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("keras-cv is not installed: pip install keras-cv==0.9.0")
    return Path(list(spec.submodule_search_locations)[0])


def constants() -> ModuleType:
    """KerasCV's SD constants (schedule, unconditional tokens): a data file that
    imports nothing, read without loading Keras or KerasCV at all."""
    name = "_sd_desk_kerascv_constants"
    if name not in sys.modules:
        path = kerascv_root() / "src" / "models" / "stable_diffusion" / "constants.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[name] = module
    return sys.modules[name]
