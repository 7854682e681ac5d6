"""Which Keras backends a bundle carries, and what that means for PyInstaller.

By default every backend installed in the build environment (what the app's own
chooser calls installed, engine/compute/selection.py); `--backends` narrows it.
A backend left out is excluded outright: Keras's own modules name all three, and
static analysis would otherwise pull a stray framework in, or fail on a missing one.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Optional

from engine.compute.selection import BACKENDS, installed_backends

# Top-level packages that belong to each backend alone.
PACKAGES: dict[str, tuple[str, ...]] = {
    "tensorflow": ("tensorflow", "tensorboard", "tensorflow_datasets", "tensorflow_metadata",
                   "tensorflow_text", "tf_keras"),
    "jax": ("jax", "jaxlib", "jax_plugins", "flax", "optax"),
    "torch": ("torch", "torchvision", "torchaudio", "functorch"),
}
# JAX has no PyInstaller hook: it finds its plugins (the CUDA one) by scanning the
# jax_plugins namespace at run time and imports much of itself lazily, so each of
# these is collected whole (code, libraries, data, metadata) when installed.
JAX_COLLECT_ALL = ("jax", "jaxlib", "jax_plugins", "jax_cuda12_plugin", "jax_cuda12_pjrt",
                   "jax_cuda13_plugin", "jax_cuda13_pjrt")


def chosen(requested: Optional[str] = None, installed: Optional[list[str]] = None) -> list[str]:
    """The backends to bundle. `requested`: comma-separated names, None for all installed."""
    installed = installed_backends() if installed is None else installed
    if requested is None:
        names = list(installed)
    else:
        names = [part.strip().lower() for part in requested.split(",") if part.strip()]
        unknown = [n for n in names if n not in BACKENDS]
        if unknown:
            raise SystemExit(f"unknown backend(s) {', '.join(unknown)}; choose from "
                             f"{', '.join(BACKENDS)}")
        missing = [n for n in names if n not in installed]
        if missing:
            raise SystemExit("not installed in this build environment: "
                             + "; ".join(BACKENDS[n].install for n in missing))
    if not names:
        raise SystemExit("no Keras backend to bundle: " + "; ".join(b.install for b in BACKENDS.values()))
    return names


def excluded_packages(bundled: list[str]) -> list[str]:
    return [package for name, packages in PACKAGES.items() if name not in bundled
            for package in packages]


def jax_packages() -> list[str]:
    return [name for name in JAX_COLLECT_ALL if importlib.util.find_spec(name) is not None]


def stable_diffusion_modules() -> list[str]:
    """KerasCV's Stable Diffusion modules, listed from its folder without importing
    keras_cv (whose __init__ needs TensorFlow): a bundle without TensorFlow loads
    them through engine/backends, not through keras_cv's package."""
    spec = importlib.util.find_spec("keras_cv")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("keras-cv is not installed in this build environment")
    folder = Path(list(spec.submodule_search_locations)[0]) / "src" / "models" / "stable_diffusion"
    package = "keras_cv.src.models.stable_diffusion"
    return [package] + sorted(f"{package}.{path.stem}" for path in folder.glob("*.py")
                              if path.stem != "__init__" and not path.stem.endswith("_test"))
