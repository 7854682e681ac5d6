"""A full-size look at one history image: zoom, fit, and the previous and next image."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImageReader, QKeySequence, QPixmap, QShortcut
from PySide6.QtWidgets import (QDialog, QHBoxLayout, QLabel, QPushButton, QScrollArea,
                               QVBoxLayout, QWidget)

ZOOM_STEP = 1.25
ZOOM_RANGE = (0.05, 16.0)


class ImageViewer(QDialog):
    """Shows image `row` of `count()` rows; `entry_at(row)` gives (path, title) or None."""

    upscale_requested = Signal(int, bool)  # the row shown, and True to repaint

    def __init__(self, count: Callable[[], int], entry_at: Callable[[int], Optional[tuple[Path, str]]],
                 row: int, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setObjectName("imageViewer")
        self.count, self.entry_at = count, entry_at
        self.row = row
        self.zoom = 1.0
        self.fit = True
        self.pixmap = QPixmap()
        self.image = QLabel()
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.scroll = QScrollArea()
        self.scroll.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.scroll.setWidget(self.image)
        self.scroll.setWidgetResizable(False)
        self.caption = QLabel()
        self.caption.setProperty("role", "hint")
        self.caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.previous_button = QPushButton("\u2190 Previous")
        self.next_button = QPushButton("Next \u2192")
        fit_button = QPushButton("Fit")
        actual_button = QPushButton("100%")
        zoom_in, zoom_out = QPushButton("+"), QPushButton("\u2212")
        close_button = QPushButton("Close")
        self.upscale_button = QPushButton("Upscale \u00d72")
        self.upscale_button.setObjectName("viewerUpscale")
        self.upscale_button.setToolTip("Queue this image at twice the size, repainted lightly with "
                                       "its own recipe (Shift+click: resample only)")
        bar = QHBoxLayout()
        for widget in (self.previous_button, self.next_button):
            bar.addWidget(widget)
        bar.addWidget(self.caption, 1)
        for widget in (self.upscale_button, zoom_out, zoom_in, fit_button, actual_button, close_button):
            bar.addWidget(widget)
        layout = QVBoxLayout(self)
        layout.addWidget(self.scroll, 1)
        layout.addLayout(bar)
        self.previous_button.clicked.connect(lambda: self.step(-1))
        self.next_button.clicked.connect(lambda: self.step(1))
        fit_button.clicked.connect(self.fit_to_window)
        actual_button.clicked.connect(lambda: self.set_zoom(1.0))
        zoom_in.clicked.connect(lambda: self.set_zoom(self.zoom * ZOOM_STEP))
        zoom_out.clicked.connect(lambda: self.set_zoom(self.zoom / ZOOM_STEP))
        close_button.clicked.connect(self.close)
        self.upscale_button.clicked.connect(self._upscale)
        for keys, slot in ((Qt.Key.Key_Left, lambda: self.step(-1)),
                           (Qt.Key.Key_Right, lambda: self.step(1)),
                           (QKeySequence.StandardKey.ZoomIn, lambda: self.set_zoom(self.zoom * ZOOM_STEP)),
                           (QKeySequence.StandardKey.ZoomOut, lambda: self.set_zoom(self.zoom / ZOOM_STEP)),
                           ("Ctrl+0", lambda: self.set_zoom(1.0)),
                           (Qt.Key.Key_F, self.fit_to_window)):
            QShortcut(QKeySequence(keys), self, activated=slot)
        self.resize(900, 760)
        self.show_row(row)

    def show_row(self, row: int) -> None:
        found = self.entry_at(row)
        if found is None:
            return
        self.row = row
        path, title = found
        reader = QImageReader(str(path))
        image = reader.read()
        self.pixmap = QPixmap.fromImage(image) if not image.isNull() else QPixmap()
        if self.pixmap.isNull():
            self.image.setPixmap(QPixmap())
            self.image.setText(f"This image cannot be read: {reader.errorString()}\n{path}")
            self.image.adjustSize()
        self.setWindowTitle(f"{title} \u2014 {row + 1} of {self.count()}")
        self.caption.setText(path.name)
        self.previous_button.setEnabled(row > 0)
        self.next_button.setEnabled(row + 1 < self.count())
        self._render()

    def _upscale(self) -> None:
        from PySide6.QtWidgets import QApplication
        plain = bool(QApplication.keyboardModifiers() & Qt.KeyboardModifier.ShiftModifier)
        self.upscale_requested.emit(self.row, not plain)

    def step(self, delta: int) -> None:
        target = self.row + delta
        if 0 <= target < self.count():
            self.show_row(target)

    def keyPressEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        """The bare + and - that Help lists ("=" is + without Shift on most layouts). Ctrl+plus
        and Ctrl+minus stay shortcuts; these come here from any child that leaves them."""
        factor = {Qt.Key.Key_Plus: ZOOM_STEP, Qt.Key.Key_Equal: ZOOM_STEP,
                  Qt.Key.Key_Minus: 1 / ZOOM_STEP}.get(Qt.Key(event.key()))
        if factor is not None and not event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.set_zoom(self.zoom * factor)
            return
        super().keyPressEvent(event)

    def set_zoom(self, zoom: float) -> None:
        self.fit = False
        self.zoom = min(max(zoom, ZOOM_RANGE[0]), ZOOM_RANGE[1])
        self._render()

    def fit_to_window(self) -> None:
        self.fit = True
        self._render()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self.fit:
            self._render()

    def _render(self) -> None:
        if self.pixmap.isNull():
            return
        if self.fit:
            room = self.scroll.viewport().size()
            self.zoom = min(room.width() / self.pixmap.width(), room.height() / self.pixmap.height(),
                            ZOOM_RANGE[1])
        size = self.pixmap.size() * self.zoom
        # Enlarged pixels stay sharp (it is a look at the pixels); reductions are smoothed.
        mode = (Qt.TransformationMode.FastTransformation if self.zoom >= 1
                else Qt.TransformationMode.SmoothTransformation)
        self.image.setPixmap(self.pixmap.scaled(size, Qt.AspectRatioMode.KeepAspectRatio, mode))
        self.image.adjustSize()
