"""Finished images the history could not keep (a full or read-only disk): the window holds
them until it closes, says why, and saves them into a folder the person picks."""
from __future__ import annotations

import uuid
from pathlib import Path
from typing import Optional

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QFileDialog

from engine.jobs import Finished
from gui.folders import remember_folder, start_folder
from gui.notices import Notices

SAVE_ELSEWHERE = "Save elsewhere\u2026"


class UnsavedResults:
    def __init__(self, notices: Notices, settings: QSettings) -> None:
        self.notices = notices
        self.settings = settings  # where the folder dialog starts
        self.results: list = []  # engine.events.GenerationResult, oldest first

    def keep(self, outcome: Finished) -> None:
        if not outcome.unsaved:
            return
        self.results.append(outcome.result)
        self.notices.banner.show_message(
            "error", "Not saved to the history",
            f"{outcome.unsaved}\nThe images are kept in this window until it closes.",
            action=SAVE_ELSEWHERE, on_action=self.save)

    def save(self, folder: Optional[Path] = None) -> list[Path]:
        """Writes them into `folder` (asked for when None), each with its recipe, as the
        history would have."""
        if not self.results:
            return []
        if folder is None:
            chosen = QFileDialog.getExistingDirectory(self.notices.window, "Save the unsaved images to",
                                                      start_folder(self.settings))
            if not chosen:
                return []
            folder = Path(chosen)
            remember_folder(self.settings, folder)
        from engine.pngmeta import save_png
        paths: list[Path] = []
        try:
            folder.mkdir(parents=True, exist_ok=True)
            while self.results:
                result = self.results[0]
                stem = f"sd-desk-{uuid.uuid4().hex[:8]}"
                for n, image in enumerate(result.images):
                    paths.append(save_png(folder / f"{stem}-{n}.png", image.pixels, result.request,
                                          image.seed, result.model_label,
                                          model_hash=result.model_hash))
                self.results.pop(0)
        except OSError as error:
            self.notices.banner.show_message("error", "Not saved", f"{folder}: {error.strerror or error}",
                                             action=SAVE_ELSEWHERE, on_action=self.save)
            return paths
        self.notices.banner.show_message("info", "", f"Saved {len(paths)} image(s) to {folder}.")
        return paths
