"""KerasCV's own Stable Diffusion modules, loaded on any Keras backend.

`import keras_cv` needs TensorFlow: its package __init__ checks TensorFlow's
version and imports every KerasCV model, and `keras_cv.src.backend` imports
TensorFlow ops. The Stable Diffusion files themselves use only `keras`,
`keras.ops` and `keras_cv.src.backend`'s `keras`/`ops`/`random`. So on JAX and
PyTorch the parent packages are registered as plain package objects over the real
folders (their __init__ files never run) and `keras_cv.src.backend` as a shim
holding those three: the architecture code imported is KerasCV's, unchanged.
On TensorFlow KerasCV is imported as it is, so nothing differs there.
"""
from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from engine.kerascv_files import kerascv_root

PACKAGE = "keras_cv.src.models.stable_diffusion"
# The packages above the Stable Diffusion modules whose __init__ must not run.
_PARENTS = ("keras_cv", "keras_cv.src", "keras_cv.src.models", PACKAGE)


def load(name: str) -> ModuleType:
    """`keras_cv.src.models.stable_diffusion.<name>`, e.g. "diffusion_model"."""
    full = f"{PACKAGE}.{name}"
    if full not in sys.modules:
        from engine import compute
        if compute.backend_name() != "tensorflow" and "keras_cv" not in sys.modules:
            _register_without_tensorflow()
    return importlib.import_module(full)


def _package(name: str, folder: Path) -> ModuleType:
    module = ModuleType(name)
    module.__path__ = [str(folder)]
    module.__package__ = name
    return module


def _register_without_tensorflow() -> None:
    import keras

    root = kerascv_root()
    folders = (root, root / "src", root / "src" / "models", root / "src" / "models" / "stable_diffusion")
    for name, folder in zip(_PARENTS, folders):
        sys.modules[name] = _package(name, folder)
    sys.modules["keras_cv"].__version__ = importlib.metadata.version("keras-cv")

    config = ModuleType("keras_cv.src.backend.config")
    config.keras_3 = lambda: True
    config.backend = keras.config.backend
    backend = _package("keras_cv.src.backend", root / "src" / "backend")
    # What the real keras_cv.src.backend does on Keras 3.
    keras.backend.name_scope = keras.name_scope
    backend.config, backend.keras = config, keras
    sys.modules["keras_cv.src.backend"] = backend
    sys.modules["keras_cv.src.backend.config"] = config
    # The real ops and random modules (keras.ops / keras.random re-exported),
    # which find `keras` and `config` on the shim above.
    backend.ops = importlib.import_module("keras_cv.src.backend.ops")
    backend.random = importlib.import_module("keras_cv.src.backend.random")
