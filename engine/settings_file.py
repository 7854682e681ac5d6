"""The app's own small settings that must be readable before Qt or Keras start.

A JSON object in `<settings folder>/settings.json` (engine.locations.settings_dir:
SD_DESK_DATA_DIR, else the platform's user data folder; never the data folder preference,
which it holds). The window keeps its layout in QSettings; what lives here is read by
main.py before anything imports Keras (the compute backend, the folders), so the CLI and
the GUI agree on it. engine/preferences.py names what Edit > Preferences keeps here.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from engine import json_file
from engine.locations import settings_dir

log = logging.getLogger(__name__)

FILE_NAME = "settings.json"
MAX_SETTINGS_BYTES = 1024 * 1024  # a few hundred bytes in use


def settings_path() -> Path:
    return settings_dir() / FILE_NAME


def read_settings() -> dict[str, Any]:
    """{} when there is no file; a damaged one (unreadable, too large or deep, not JSON) is
    logged and set aside, so every command still starts (engine/json_file.py)."""
    path = settings_path()
    data = json_file.read_state(path, {}, max_bytes=MAX_SETTINGS_BYTES)
    if not isinstance(data, dict):
        log.warning("ignoring settings file %s: not a JSON object", path)
        return {}
    return data


def update_settings(**values: Any) -> Path:
    """Sets (or, with None, removes) keys, keeping the others; written atomically."""
    data = read_settings()
    for key, value in values.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    path = settings_path()
    json_file.write(path, data)
    return path
