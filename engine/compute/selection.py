"""Which Keras backend the app runs on, decided before Keras is first imported.

Keras reads its backend once, at import, so main.py calls `apply()` before any
module that imports Keras. Nothing here imports Keras or a framework: whether one
is installed is asked of the import system (`importlib.util.find_spec`).

Precedence, first that names an installed backend wins:
  1. the KERAS_BACKEND environment variable (Keras's own; the most deliberate),
  2. the app's preference (Edit > Preferences, saved in <data dir>/settings.json),
  3. "backend" in Keras's own keras.json ($KERAS_HOME/keras.json, else ~/.keras/keras.json),
     unless the file is the one Keras writes by itself on first import (all defaults),
     which records no one's choice,
  4. the default: a backend whose installed build can reach a GPU here (JAX with its
     CUDA plugin; PyTorch built for CUDA or ROCm, or on Apple silicon), else the
     fastest installed on a CPU (CPU_ORDER).
A source naming a backend that is not installed, or one SD Desk does not run on,
is passed over with a note saying why and how to install it.
"""
from __future__ import annotations

import importlib.util
import os
import platform
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Optional

ENV_VAR = "KERAS_BACKEND"
PREFERENCE_KEY = "compute_backend"


@dataclass(frozen=True)
class BackendInfo:
    name: str  # Keras's own name for it
    label: str  # what people read
    modules: tuple[str, ...]  # all must be importable
    install: str  # the command that installs it into a checkout's environment


BACKENDS: dict[str, BackendInfo] = {b.name: b for b in (
    BackendInfo("tensorflow", "TensorFlow", ("tensorflow",), 'pip install -e .'),
    BackendInfo("jax", "JAX", ("jax", "jaxlib"),
                'pip install -e ".[jax]" (Linux NVIDIA: ".[jax-cuda]")'),
    BackendInfo("torch", "PyTorch", ("torch",), 'pip install -e ".[torch]"'),
)}

# Fastest first on a CPU, as `python main.py benchmark` measures it under each KERAS_BACKEND.
CPU_ORDER = ("tensorflow", "jax", "torch")
# Where more than one installed build can reach a GPU. JAX first: XLA compiles the
# whole UNet call, which is usually the fastest Keras backend on NVIDIA.
GPU_ORDER = ("jax", "torch")

# What Keras writes into a missing keras.json at its first import.
_KERAS_WRITTEN = {"floatx": "float32", "epsilon": 1e-07, "backend": "tensorflow",
                  "image_data_format": "channels_last"}


@dataclass(frozen=True)
class Choice:
    backend: str
    source: str  # "KERAS_BACKEND", "preference", "keras.json" or "default"
    reason: str  # one line for people: why this backend
    notes: tuple[str, ...] = ()  # sources passed over, and why

    @property
    def label(self) -> str:
        return BACKENDS[self.backend].label


def label(name: Optional[str]) -> str:
    info = BACKENDS.get(name)
    return info.label if info else (name or "-")


def is_installed(name: str) -> bool:
    info = BACKENDS.get(name)
    if info is None:
        return False
    try:
        return all(importlib.util.find_spec(module) is not None for module in info.modules)
    except (ImportError, ValueError):  # a broken or half-removed install
        return False


def installed_backends() -> list[str]:
    return [name for name in BACKENDS if is_installed(name)]


def install_hint(name: str) -> str:
    info = BACKENDS[name]
    return f"{info.label} is not installed: {info.install}"


# ------------------------------------------------------------- what each source says

def keras_json_path(environ: Mapping[str, str] = os.environ) -> Path:
    """Where Keras itself looks, by its own rule: $KERAS_HOME, else ~/.keras
    (/tmp/.keras when the home folder is not writable)."""
    if "KERAS_HOME" in environ:
        return Path(environ["KERAS_HOME"]).expanduser() / "keras.json"
    home = os.path.expanduser("~")
    if not os.access(home, os.W_OK):
        home = "/tmp"
    return Path(home) / ".keras" / "keras.json"


def keras_json_backend(path: Path) -> tuple[Optional[str], Optional[str]]:
    """(backend, note): the file's choice, or None with why it counts as none."""
    from engine import json_file  # light: the standard library only, no Keras
    try:
        config = json_file.read(path, max_bytes=64 * 1024)
    except FileNotFoundError:
        return None, None
    except ValueError as error:  # the message names the file
        return None, f"Keras's settings file is unreadable: {error}; ignored"
    if not isinstance(config, dict) or not config.get("backend"):
        return None, None
    if config == _KERAS_WRITTEN:
        return None, None  # written by Keras on its first import, not chosen by anyone
    return str(config["backend"]), None


def read_preference() -> Optional[str]:
    from engine.settings_file import read_settings
    value = read_settings().get(PREFERENCE_KEY)
    return value if isinstance(value, str) and value else None


def save_preference(name: Optional[str]) -> Path:
    """None clears it (back to the default). Takes effect at the next start."""
    if name is not None and name not in BACKENDS:
        raise ValueError(f"Unknown compute backend {name!r}; choose from {', '.join(BACKENDS)}.")
    from engine.settings_file import update_settings
    return update_settings(**{PREFERENCE_KEY: name})


# ------------------------------------------------------------- the default

def can_reach_gpu(name: str) -> bool:
    """Whether the installed build of `name` has GPU support here, read from its
    files without importing it. (It says nothing about whether a GPU is present.)"""
    if not is_installed(name):
        return False
    if name == "jax":
        return any(_has_module(m) for m in ("jax_cuda13_plugin", "jax_cuda12_plugin"))
    if name == "torch":
        if sys.platform == "darwin" and platform.machine() == "arm64":
            return True  # every macOS arm64 wheel has MPS
        return _torch_built_for_gpu()
    return False


def _has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


_TORCH_GPU_BUILD = re.compile(r"^(cuda|hip)\s*(:[^=]*)?=\s*['\"]", re.MULTILINE)


def _torch_built_for_gpu() -> bool:
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return False
    version_file = Path(list(spec.submodule_search_locations)[0]) / "version.py"
    try:
        return bool(_TORCH_GPU_BUILD.search(version_file.read_text(encoding="utf-8")))
    except OSError:
        return False


def default_backend(installed: list[str], gpu_capable: Callable[[str], bool] = can_reach_gpu
                    ) -> tuple[Optional[str], str]:
    """(backend, reason), (None, reason) when none is installed."""
    for name in GPU_ORDER:
        if name in installed and gpu_capable(name):
            return name, f"default: {label(name)}'s installed build can use a GPU"
    for name in CPU_ORDER:
        if name in installed:
            return name, "default: the fastest installed backend on a CPU"
    return None, "no compute backend is installed"


# ------------------------------------------------------------- deciding

def choose(environ: Optional[Mapping[str, str]] = None, preference: Optional[str] = None,
           keras_json: Optional[Path] = None, installed: Optional[list[str]] = None,
           gpu_capable: Callable[[str], bool] = can_reach_gpu) -> Choice:
    """The backend to run on, by the precedence in this module's docstring.
    Arguments default to this process's environment, settings and installs;
    tests pass their own. Raises RuntimeError when no backend is installed at all."""
    environ = os.environ if environ is None else environ
    installed = installed_backends() if installed is None else installed
    keras_json = keras_json_path(environ) if keras_json is None else keras_json
    notes: list[str] = []

    json_choice, json_note = keras_json_backend(keras_json)
    if json_note:
        notes.append(json_note)
    sources = [
        (ENV_VAR, environ.get(ENV_VAR), f"{ENV_VAR}={{value}} in the environment"),
        ("preference", preference, "the app's preference (Edit > Preferences)"),
        ("keras.json", json_choice, f"\"backend\" in {keras_json}"),
    ]
    for source, raw, why in sources:
        if not raw or not raw.strip():
            continue
        name = raw.strip().lower()
        if name not in BACKENDS:
            notes.append(f"{source} names {raw!r}, which SD Desk does not run on "
                         f"(choose {', '.join(BACKENDS)}); ignored")
            continue
        if name not in installed:
            notes.append(f"{source} names {label(name)}, ignored: {install_hint(name)}")
            continue
        return Choice(name, source, why.format(value=raw), tuple(notes))
    name, why = default_backend(installed, gpu_capable)
    if name is None:
        raise RuntimeError("No compute backend is installed: "
                           + "; ".join(b.install for b in BACKENDS.values()))
    return Choice(name, "default", why, tuple(notes))


_applied: Optional[Choice] = None


def apply(choice: Optional[Choice] = None) -> Choice:
    """Decides (unless given a choice) and sets KERAS_BACKEND for Keras and for any
    process this one starts. Call before anything imports Keras."""
    global _applied
    if choice is None:
        choice = choose(preference=read_preference())
    keras = sys.modules.get("keras")
    if keras is not None:
        current = keras.config.backend()
        if current != choice.backend:
            choice = Choice(current, choice.source, choice.reason, choice.notes + (
                f"Keras was imported before the choice of {choice.label} was applied: "
                f"running on {label(current)}",))
    os.environ[ENV_VAR] = choice.backend
    _applied = choice
    return choice


def applied() -> Optional[Choice]:
    """The choice `apply` made in this process; None when it was never called."""
    return _applied
