"""Where file dialogs start: the last folder the person used, else their Pictures folder
(never the working directory, which for `python main.py` is the source checkout)."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, QStandardPaths

LAST_FOLDER_KEY = "dialogs/lastFolder"


def start_folder(settings: QSettings) -> str:
    last = settings.value(LAST_FOLDER_KEY)
    if isinstance(last, str) and Path(last).is_dir():
        return last
    pictures = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.PicturesLocation)
    if pictures and Path(pictures).is_dir():
        return pictures
    return str(Path.home())


def remember_folder(settings: QSettings, folder: Path) -> None:
    settings.setValue(LAST_FOLDER_KEY, str(folder))
