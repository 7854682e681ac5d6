"""Painting an inpainting mask with the mouse over the source image.

The mask is kept at the source's own size, so what goes to the engine is the
person's strokes pixel for pixel, whatever size the editor is shown at. It lives
in the alpha channel of one translucent overlay image: what is drawn is what is
sent (white, repainted, where the overlay is opaque).
"""
from __future__ import annotations

from typing import Optional

import numpy as np
from PySide6.QtCore import QPoint, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (QAction, QColor, QImage, QKeySequence, QMouseEvent, QPainter, QPen,
                           QPixmap)
from PySide6.QtWidgets import (QButtonGroup, QDialog, QHBoxLayout, QLabel, QPushButton, QSpinBox,
                               QToolButton, QVBoxLayout, QWidget)

OVERLAY_RGB = (255, 64, 64)  # the colour the mask is shown in, over the image
OVERLAY_OPACITY = 0.5
UNDO_LIMIT_BYTES = 256 * 1024 * 1024  # strokes kept for undo, as whole masks (1 byte a pixel)


def rgb_qimage(pixels: np.ndarray) -> QImage:
    """uint8 (H, W, 3 or 4) pixels as a QImage that owns its bytes."""
    rgb = np.ascontiguousarray(pixels[..., :3], dtype=np.uint8)
    h, w, _ = rgb.shape
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def overlay_from_mask(mask: np.ndarray) -> QImage:
    """uint8 (H, W) grey levels as the overlay: its alpha is the mask."""
    mask = np.ascontiguousarray(mask, dtype=np.uint8)
    h, w = mask.shape
    bgra = np.empty((h, w, 4), np.uint8)  # ARGB32 is B, G, R, A in memory on every platform Qt runs
    alpha = mask.astype(np.uint16)
    for channel, value in zip((2, 1, 0), OVERLAY_RGB):  # premultiplied by the alpha
        bgra[..., channel] = (alpha * value // 255).astype(np.uint8)
    bgra[..., 3] = mask
    return QImage(bgra.data, w, h, 4 * w, QImage.Format.Format_ARGB32_Premultiplied).copy()


def mask_from_overlay(overlay: QImage) -> np.ndarray:
    image = overlay.convertToFormat(QImage.Format.Format_ARGB32_Premultiplied)
    w, h = image.width(), image.height()
    data = np.frombuffer(image.constBits(), np.uint8, count=image.sizeInBytes())
    rows = data.reshape(h, image.bytesPerLine())[:, :4 * w].reshape(h, w, 4)
    return rows[..., 3].copy()


def composite(image: QImage, overlay: Optional[QImage]) -> QImage:
    """The image with the mask drawn over it, as the editor shows it."""
    out = image.convertToFormat(QImage.Format.Format_RGB32)
    if overlay is not None:
        painter = QPainter(out)
        painter.setOpacity(OVERLAY_OPACITY)
        painter.drawImage(0, 0, overlay)
        painter.end()
    return out


class MaskCanvas(QWidget):
    """The source image, fitted to the widget, with the mask over it; left-drag paints
    (or erases), each press-to-release one stroke that Undo takes back."""

    changed = Signal()  # after each stroke, clear, invert, undo or new mask

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setObjectName("maskCanvas")
        self.setMinimumSize(128, 128)
        self.setMouseTracking(True)  # the brush outline follows the pointer
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.image = QImage()
        self.overlay = QImage()
        self.brush = 32  # diameter, in the source's pixels
        self.erasing = False
        self._undo: list[np.ndarray] = []
        self._last: Optional[QPointF] = None  # in image pixels, while a stroke is under way
        self._pointer: Optional[QPointF] = None

    # ---- what is edited -------------------------------------------------------------

    def set_image(self, image: QImage, mask: Optional[np.ndarray] = None) -> None:
        """A new source: the mask starts from `mask` (its size) or empty, with no undo."""
        self.image = image
        h, w = image.height(), image.width()
        self.overlay = overlay_from_mask(mask if mask is not None else np.zeros((h, w), np.uint8))
        self._undo.clear()
        self._last = None
        self.update()
        self.changed.emit()

    def mask(self) -> np.ndarray:
        """uint8 (H, W) at the source's size: 255 where painted."""
        if self.overlay.isNull():
            return np.zeros((0, 0), np.uint8)
        return mask_from_overlay(self.overlay)

    def has_mask(self) -> bool:
        return bool(self.mask().any())

    def replace_mask(self, mask: np.ndarray) -> None:
        """A whole new mask (a loaded file), which Undo can take back."""
        self._remember()
        self.overlay = overlay_from_mask(mask)
        self._done()

    def clear(self) -> None:
        self._remember()
        self.overlay.fill(Qt.GlobalColor.transparent)
        self._done()

    def invert(self) -> None:
        self._remember()
        self.overlay = overlay_from_mask(255 - self.mask())
        self._done()

    def undo(self) -> bool:
        if not self._undo:
            return False
        self.overlay = overlay_from_mask(self._undo.pop())
        self._done()
        return True

    def can_undo(self) -> bool:
        return bool(self._undo)

    def _remember(self) -> None:
        self._undo.append(self.mask())
        # Whole masks, oldest dropped first: a 4000x3000 source is 12 MB a stroke.
        while len(self._undo) > 1 and sum(m.nbytes for m in self._undo) > UNDO_LIMIT_BYTES:
            self._undo.pop(0)

    def _done(self) -> None:
        self.update()
        self.changed.emit()

    # ---- where things are ------------------------------------------------------------

    def target(self) -> QRectF:
        """Where the image is drawn: fitted inside the widget, its shape kept, centred."""
        if self.image.isNull():
            return QRectF()
        scale = min(self.width() / self.image.width(), self.height() / self.image.height())
        w, h = self.image.width() * scale, self.image.height() * scale
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def _scale(self) -> float:
        target = self.target()
        return target.width() / self.image.width() if target.width() else 1.0

    def to_image(self, point: QPointF) -> QPointF:
        target = self.target()
        scale = self._scale()
        return QPointF((point.x() - target.x()) / scale, (point.y() - target.y()) / scale)

    def to_widget(self, x: float, y: float) -> QPoint:
        """The widget point over the centre of image pixel (x, y)."""
        target = self.target()
        scale = self._scale()
        return QPoint(round(target.x() + (x + 0.5) * scale), round(target.y() + (y + 0.5) * scale))

    # ---- painting --------------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self.image.isNull():
            return super().mousePressEvent(event)
        self._remember()
        self._last = self.to_image(event.position())
        self._stroke(self._last, self._last)
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        self._pointer = event.position()
        # Our own flag, not event.buttons(): a stroke is press to release, whatever the
        # platform reports for the buttons of each move.
        if self._last is not None:
            point = self.to_image(event.position())
            self._stroke(self._last, point)
            self._last = point
        self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self._last is None:
            return super().mouseReleaseEvent(event)
        point = self.to_image(event.position())
        self._stroke(self._last, point)
        self._last = None
        self._done()

    def leaveEvent(self, event) -> None:
        self._pointer = None
        self.update()
        super().leaveEvent(event)

    def _stroke(self, start: QPointF, end: QPointF) -> None:
        painter = QPainter(self.overlay)
        # No antialiasing: a painted pixel is fully white, and the mask blur softens the seam.
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        if self.erasing:
            painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Clear)
        pen = QPen(QColor(*OVERLAY_RGB), self.brush, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap,
                   Qt.PenJoinStyle.RoundJoin)
        painter.setPen(pen)
        if start == end:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(*OVERLAY_RGB))
            painter.drawEllipse(start, self.brush / 2, self.brush / 2)
        else:
            painter.drawLine(start, end)
        painter.end()
        self.update()

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(30, 32, 36))
        if self.image.isNull():
            return
        target = self.target()
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        painter.drawImage(target, self.image)
        painter.setOpacity(OVERLAY_OPACITY)
        painter.drawImage(target, self.overlay)
        painter.setOpacity(1.0)
        if self._pointer is not None:
            radius = self.brush * self._scale() / 2
            painter.setPen(QPen(QColor(255, 255, 255, 200), 1))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawEllipse(self._pointer, radius, radius)

    def sizeHint(self) -> QSize:
        return QSize(640, 640)


class MaskEditor(QDialog):
    """The canvas with its tools: brush size, paint or erase, clear, invert, undo (Ctrl+Z),
    and loading a mask file (the window reads it: `load_requested`)."""

    load_requested = Signal()

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setObjectName("maskEditor")
        self.setWindowTitle("Inpainting mask")
        self.canvas = MaskCanvas()
        self.brush_size = QSpinBox()
        self.brush_size.setObjectName("brushSize")
        self.brush_size.setRange(1, 512)
        self.brush_size.setValue(self.canvas.brush)
        self.brush_size.setSuffix(" px")
        self.brush_size.setToolTip("Brush diameter, in the source image's pixels")
        self.paint_button = _tool("Paint", "Paint what should be repainted")
        self.paint_button.setObjectName("paintMode")
        self.erase_button = _tool("Erase", "Erase: keep these pixels as they are")
        self.erase_button.setObjectName("eraseMode")
        for button in (self.paint_button, self.erase_button):
            button.setCheckable(True)
        self.paint_button.setChecked(True)
        modes = QButtonGroup(self)
        modes.setExclusive(True)
        modes.addButton(self.paint_button)
        modes.addButton(self.erase_button)
        self.clear_button = _tool("Clear", "Remove the whole mask")
        self.invert_button = _tool("Invert", "Repaint what is kept and keep what is repainted")
        self.undo_button = _tool("Undo", "Take back the last stroke (Ctrl+Z)")
        self.load_button = _tool("Load mask\u2026", "Use a mask image: white is repainted")
        self.hint = QLabel(NOTHING_PAINTED)
        self.hint.setProperty("role", "hint")
        self.hint.setWordWrap(True)
        done = QPushButton("Done")
        done.setDefault(True)
        tools = QHBoxLayout()
        tools.addWidget(QLabel("Brush"))
        tools.addWidget(self.brush_size)
        for button in (self.paint_button, self.erase_button, self.clear_button, self.invert_button,
                       self.undo_button, self.load_button):
            tools.addWidget(button)
        tools.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(tools)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(self.hint)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(done)
        layout.addLayout(row)

        # An action of this window: the main window's Ctrl+Z (undo delete) stays its own.
        self.undo_action = QAction("Undo stroke", self)
        self.undo_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Undo))
        self.undo_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.undo_action.triggered.connect(self.canvas.undo)
        self.addAction(self.undo_action)

        self.brush_size.valueChanged.connect(self._set_brush)
        self.erase_button.toggled.connect(self._set_erasing)
        self.clear_button.clicked.connect(self.canvas.clear)
        self.invert_button.clicked.connect(self.canvas.invert)
        self.undo_button.clicked.connect(self.canvas.undo)
        self.load_button.clicked.connect(self.load_requested)
        self.canvas.changed.connect(self._update_buttons)
        done.clicked.connect(self.accept)
        self._update_buttons()
        self.resize(720, 760)

    def _set_brush(self, value: int) -> None:
        self.canvas.brush = int(value)
        self.canvas.update()

    def _set_erasing(self, on: bool) -> None:
        self.canvas.erasing = bool(on)

    def _update_buttons(self) -> None:
        self.undo_button.setEnabled(self.canvas.can_undo())
        self.undo_action.setEnabled(self.canvas.can_undo())
        self.hint.setText(PAINTED if self.canvas.has_mask() else NOTHING_PAINTED)


NOTHING_PAINTED = ("Paint over what should change; the rest stays as it is. "
                   "Nothing painted: the whole image is changed.")
PAINTED = "The painted part is repainted; the rest stays as it is."


def _tool(text: str, tip: str) -> QToolButton:
    button = QToolButton()
    button.setText(text)
    button.setToolTip(tip)
    return button


def thumbnail(image: QImage, overlay: Optional[QImage], size: int) -> QPixmap:
    return QPixmap.fromImage(composite(image, overlay)).scaled(
        size, size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
