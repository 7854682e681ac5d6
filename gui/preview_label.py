"""The big image in the middle of the window, and the details' own: scaled to the room it has."""
from __future__ import annotations

from typing import Optional

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QLabel


class PreviewLabel(QLabel):
    """Keeps its image and scales it to whatever room the layout gives, never cropping."""

    def __init__(self, placeholder: str = "") -> None:
        super().__init__(placeholder)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(64, 64)
        self._placeholder = placeholder
        self._pixmap: Optional[QPixmap] = None

    def set_image(self, pixmap: Optional[QPixmap]) -> None:
        self._pixmap = pixmap
        if pixmap is None or pixmap.isNull():
            self.setPixmap(QPixmap())
            self.setText(self._placeholder)
        else:
            self._rescale()

    def current(self) -> Optional[QPixmap]:
        return self._pixmap

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._rescale()

    def _rescale(self) -> None:
        if self._pixmap is None or self._pixmap.isNull():
            return
        room = self.contentsRect().size() - QSize(4, 4)
        if room.width() < 8 or room.height() < 8:
            return
        # Previews are tiny (a few dozen pixels): scale them smoothly rather than as blocks.
        self.setPixmap(self._pixmap.scaled(room, Qt.AspectRatioMode.KeepAspectRatio,
                                           Qt.TransformationMode.SmoothTransformation))

    def sizeHint(self) -> QSize:
        # Never ask for the pixmap's own size: a large image would push the layout around.
        return QSize(256, 256)

    def minimumSizeHint(self) -> QSize:
        return self.minimumSize()
