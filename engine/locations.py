"""Where weight files are looked for, in order."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from platformdirs import user_data_dir

APP_NAME = "sd-desk"
MODELS_DIR_ENV = "SD_DESK_MODELS_DIR"
DATA_DIR_ENV = "SD_DESK_DATA_DIR"


def keras_cache_dir() -> Path:
    """Where KerasCV's own get_file() keeps downloads, so earlier downloads are reused."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "datasets"


# The Edit > Preferences folders, set once at start by engine.preferences.apply_folders:
# a change made while the app runs waits for the next start, so one run never writes
# half its files in the old folder and half in the new.
_models_dir_setting: Optional[Path] = None
_data_dir_setting: Optional[Path] = None


def set_models_dir_setting(folder: Optional[Path]) -> None:
    """The app's "models folder" preference (None: the default). Downloads and imports go
    there and the Keras cache is still searched first; SD_DESK_MODELS_DIR, being the more
    deliberate choice of the two, still wins."""
    global _models_dir_setting
    _models_dir_setting = Path(folder).expanduser() if folder else None


def set_data_dir_setting(folder: Optional[Path]) -> None:
    """The app's "data folder" preference (None: the default); SD_DESK_DATA_DIR still wins."""
    global _data_dir_setting
    _data_dir_setting = Path(folder).expanduser() if folder else None


def app_models_dir() -> Path:
    """SD_DESK_MODELS_DIR, else the models folder preference, else <data folder>/models."""
    override = os.environ.get(MODELS_DIR_ENV)
    if override:
        return Path(override)
    if _models_dir_setting is not None:
        return _models_dir_setting
    # Under the data folder, so SD_DESK_DATA_DIR moves downloads (and their locks) too.
    return app_data_dir() / "models"


def app_data_dir() -> Path:
    """Everything the app writes (history, logs, caches, and the models unless a models
    folder is set on its own): SD_DESK_DATA_DIR, else the data folder preference, else the
    platform's user data folder. SD_DESK_DATA_DIR moves it all, as tests do."""
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        return Path(override)
    if _data_dir_setting is not None:
        return _data_dir_setting
    return platform_data_dir()


def settings_dir() -> Path:
    """Where settings.json and window.ini live: SD_DESK_DATA_DIR, else the platform's folder.
    Never the data folder preference, which settings.json itself holds."""
    override = os.environ.get(DATA_DIR_ENV)
    return Path(override) if override else platform_data_dir()


def platform_data_dir() -> Path:
    return Path(user_data_dir(APP_NAME, appauthor=False))


def search_dirs(weights_dir: Optional[Path] = None) -> list[Path]:
    """A folder the user named comes alone: mixing it with the caches would hide a missing file."""
    if weights_dir is not None:
        return [Path(weights_dir)]
    return [keras_cache_dir(), app_models_dir()]


def find_file(name: str, dirs: list[Path]) -> Optional[Path]:
    for folder in dirs:
        candidate = folder / name
        if candidate.is_file():
            return candidate
    return None
