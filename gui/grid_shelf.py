"""The X/Y grids Tools > Batch saved, under the gallery: a button that lists them, newest
first, and opens the one chosen in the viewer, so a grid can be seen again after its
viewer has closed.

Grids are not history images: they live in a folder of their own, so that a rebuild of
the history never takes a grid for an image it made (engine/paths.py). They are listed
from that folder, by the name BatchOutput gives them.
"""
from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Callable, Optional

from PySide6.QtWidgets import QMenu, QToolButton, QWidget

log = logging.getLogger(__name__)

GRID_GLOB = "grid-*.png"  # engine.batch.output.BatchOutput's names
MENU_LENGTH = 30  # the newest ones; the viewer's Previous and Next reach the rest


class GridShelf(QToolButton):
    def __init__(self, folder: Callable[[], Optional[Path]], parent: Optional[QWidget] = None) -> None:
        """`folder()`: where the window's batches save their grids (asked each time: the
        history's location can change in Preferences)."""
        super().__init__(parent)
        self.setObjectName("gridShelf")
        self.folder = folder
        self.viewer = None  # the viewer last opened
        self.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.setMenu(QMenu(self))
        self.menu().aboutToShow.connect(self._fill_menu)
        self.refresh()

    def grids(self) -> list[Path]:
        """The saved grids, newest first."""
        folder = self.folder()
        try:
            if folder is None or not folder.is_dir():
                return []
            found = [(path.stat().st_mtime, path) for path in folder.glob(GRID_GLOB)]
        except OSError as error:  # an unreadable folder lists nothing; the batch said why
            log.warning("grids folder %s not listed: %s", folder, error)
            return []
        return [path for _, path in sorted(found, key=lambda pair: (-pair[0], pair[1].name))]

    def refresh(self, *_args) -> None:
        count = len(self.grids())
        self.setText(f"X/Y grids ({count})")
        self.setToolTip(f"Open an X/Y grid that Tools \u25b8 Batch saved in {self.folder()}")
        self.setVisible(count > 0)

    def _fill_menu(self) -> None:
        menu = self.menu()
        menu.clear()
        grids = self.grids()
        for index, path in enumerate(grids[:MENU_LENGTH]):
            try:
                when = datetime.fromtimestamp(path.stat().st_mtime).strftime("%Y-%m-%d %H:%M")
            except OSError:
                when = ""
            action = menu.addAction(f"{path.name}  \u2014  {when}" if when else path.name)
            action.triggered.connect(lambda _checked=False, i=index: self.open_grid(i))
        if not grids:
            menu.addAction("No grids yet").setEnabled(False)
        self.refresh()

    def open_grid(self, index: int = 0):
        """The viewer on grid `index` (newest first), with the others a Previous or Next away."""
        from gui.viewer import ImageViewer
        paths = self.grids()
        if not 0 <= index < len(paths):
            return None
        self.viewer = ImageViewer(lambda: len(paths),
                                  lambda row: (paths[row], paths[row].name)
                                  if 0 <= row < len(paths) else None,
                                  index, self.window())
        self.viewer.show()
        return self.viewer
