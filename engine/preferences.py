"""What Edit > Preferences sets, kept in the app's one settings file (engine/settings_file.py).

Each preference feeds the one place that already decides the thing, and an environment
variable, being the more deliberate choice, wins over it:

  data folder      locations.app_data_dir            SD_DESK_DATA_DIR > preference > platform folder
  models folder    locations.app_models_dir          SD_DESK_MODELS_DIR > preference > <data>/models
  default model    default_model.default_model_id    preference (when its files are present) > the rule
  preview          asked each time the window makes a request (request.preview)
  theme            applied by the window (gui/theme.py)
  compute backend  compute.selection (its own key, read before Keras)

The folders are read once, at start (`apply_folders`, from main.py): a change waits for the
next start, so one run never writes half its files in the old folder and half in the new.
The others are read when they are needed, so a change counts at once.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Optional

from engine import locations
from engine.models import registry
from engine.out_folder import prepare_folder
from engine.settings_file import read_settings, settings_path, update_settings

log = logging.getLogger(__name__)

DATA_DIR = "data_dir"
MODELS_DIR = "models_dir"
DEFAULT_MODEL = "default_model"
PREVIEW = "preview"
THEME = "theme"

FOLDERS = {DATA_DIR: ("data folder", locations.DATA_DIR_ENV),
           MODELS_DIR: ("models folder", locations.MODELS_DIR_ENV)}
THEMES = ("system", "light", "dark")


class PreferenceError(ValueError):
    """A value that cannot be kept, with the sentence that says why."""


# ------------------------------------------------------------- reading

def folder(key: str) -> Optional[Path]:
    """The saved folder for DATA_DIR or MODELS_DIR; None when the default is used.

    `save` keeps full paths only; a relative one (settings.json edited by hand) counts from
    the folder settings.json is in, never from wherever the app happened to be started.
    One that names no folder at all (a NUL in it) is logged and the default used."""
    value = read_settings().get(key)
    if not isinstance(value, str) or not value.strip():
        return None
    if "\0" in value:
        log.warning("ignoring the %s in %s: a folder name cannot hold a NUL character",
                    FOLDERS[key][0], settings_path())
        return None
    path = Path(value).expanduser()
    return path if path.is_absolute() else settings_path().parent / path


def default_model() -> Optional[str]:
    """The model chosen as the default; None for the rule (engine.default_model)."""
    value = read_settings().get(DEFAULT_MODEL)
    return value if isinstance(value, str) and value in registry.all_model_ids() else None


def preview_enabled() -> bool:
    """Whether a generation shows its image at each step (on unless turned off)."""
    return read_settings().get(PREVIEW) is not False


def theme() -> str:
    value = read_settings().get(THEME)
    return value if value in THEMES else "system"


def apply_folders() -> None:
    """Hands the saved folders to engine.locations; once, before anything writes."""
    locations.set_data_dir_setting(folder(DATA_DIR))
    locations.set_models_dir_setting(folder(MODELS_DIR))


# ------------------------------------------------------------- saving

def folder_problem(key: str, value: Path) -> Optional[str]:
    """Why `value` cannot be the data or models folder, or None. Creates it (a folder that
    can be created and written is what the app will need) and proves a file can be written."""
    what = FOLDERS[key][0]
    if "\0" in str(value):
        return f"The {what} cannot contain a NUL character: {str(value)!r}."
    path = Path(value).expanduser()
    if not path.is_absolute():
        return f"The {what} must be a full path, not {str(value)!r}."
    reason = prepare_folder(path)
    if reason is not None:
        return f"The {what} {path} cannot be used: {reason}."
    return None


def save(**values: Any) -> Path:
    """Checks every value, then writes them all at once; None puts a preference back to its
    default. Raises PreferenceError, having written nothing, when one cannot be kept."""
    checked: dict[str, Any] = {}
    for key, value in values.items():
        if value is None:
            checked[key] = None
        elif key in FOLDERS:
            problem = folder_problem(key, Path(value))
            if problem:
                raise PreferenceError(problem)
            checked[key] = str(Path(value).expanduser())
        elif key == DEFAULT_MODEL:
            if value not in registry.all_model_ids():
                raise PreferenceError(f"Unknown model {value!r}.")
            checked[key] = value
        elif key == PREVIEW:
            checked[key] = None if value else False  # on is the default: nothing to keep
        elif key == THEME:
            if value not in THEMES:
                raise PreferenceError(f"Unknown theme {value!r}; choose {', '.join(THEMES)}.")
            checked[key] = None if value == "system" else value
        else:
            raise PreferenceError(f"No such preference: {key}.")
    return update_settings(**checked)


def overridden_by(key: str) -> Optional[str]:
    """The environment variable that wins over a folder preference, when it is set."""
    name = FOLDERS[key][1]
    return name if os.environ.get(name) else None
