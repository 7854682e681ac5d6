"""Versions of what the app runs on, read from package metadata: no import, so
this is fast and works whichever frameworks are missing."""
from __future__ import annotations

import platform
from importlib import metadata
from typing import Optional

# key -> distributions that provide it, first installed wins (TensorFlow ships
# under several names).
PACKAGES: dict[str, tuple[str, ...]] = {
    "keras": ("keras",),
    "keras_cv": ("keras-cv",),
    "numpy": ("numpy",),
    "tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow-macos", "tf-nightly"),
    "jax": ("jax",),
    "jaxlib": ("jaxlib",),
    "torch": ("torch",),
}


def package_version(key: str) -> Optional[str]:
    for distribution in PACKAGES[key]:
        try:
            return metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue
    return None


def versions() -> dict[str, str]:
    """Python and every package above that is installed (missing ones left out)."""
    found = {"python": platform.python_version()}
    for key in PACKAGES:
        version = package_version(key)
        if version is not None:
            found[key] = version
    return found
