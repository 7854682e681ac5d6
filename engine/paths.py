"""Where SD Desk keeps its own data: one place, so the CLI, the GUI and tests agree.

The history lives in one folder (images, trash and the database side by side)
so that copying or moving that folder moves the whole history; that is what
portable use and `--history-dir` rely on.

Precedence for the history folder, first wins:
  1. an explicit folder (the `--history-dir` flag, or the GUI's setting),
  2. the SD_DESK_HISTORY_DIR environment variable,
  3. <data dir>/history, where the data dir is SD_DESK_DATA_DIR or the
     platform's user data folder (platformdirs, "sd-desk").
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from engine.locations import app_data_dir

HISTORY_DIR_ENV = "SD_DESK_HISTORY_DIR"
DB_NAME = "history.sqlite3"
MARKS_NAME = "history.marks.jsonl"


@dataclass(frozen=True)
class HistoryLocation:
    root: Path

    @property
    def images_dir(self) -> Path:
        return self.root / "images"

    @property
    def trash_dir(self) -> Path:
        return self.root / "trash"

    @property
    def grids_dir(self) -> Path:
        """The window's X/Y plots: beside the images, not among them, so that a rebuild of
        the history never takes a grid for an image of its own."""
        return self.root / "grids"

    @property
    def sources_dir(self) -> Path:
        """Source images and masks of image-to-image requests, by content hash."""
        return self.root / "sources"

    @property
    def db_path(self) -> Path:
        return self.root / DB_NAME

    @property
    def marks_path(self) -> Path:
        """Favourites and trash marks, which the images themselves do not carry."""
        return self.root / MARKS_NAME


def data_dir() -> Path:
    return app_data_dir()


def history_location(override: Optional[Union[str, Path, HistoryLocation]] = None) -> HistoryLocation:
    if isinstance(override, HistoryLocation):
        return override
    if override:
        return HistoryLocation(Path(override).expanduser())
    env = os.environ.get(HISTORY_DIR_ENV)
    if env:
        return HistoryLocation(Path(env).expanduser())
    return HistoryLocation(data_dir() / "history")
