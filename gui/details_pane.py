"""The gallery's selected image: how it was made, and the buttons that act on it."""
from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Signal
from PySide6.QtGui import QGuiApplication, QPixmap
from PySide6.QtWidgets import QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

from engine.samplers import a1111_name
from gui import desktop
from gui.flow_layout import FlowLayout
from gui.history import Entry
from gui.preview_label import PreviewLabel


class DetailsPane(QWidget):
    """Everything about one image, and what can be done with it."""

    reuse = Signal(object)  # Entry
    to_source = Signal(object, bool)  # Entry, and True to paint a mask (Inpaint)
    favorite = Signal(object, bool)
    delete = Signal(object)
    export = Signal(object)
    open_failed = Signal(str, str)  # title, message: shown by the window, not on stderr

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.entry: Optional[Entry] = None
        self.image = PreviewLabel("Select an image to see how it was made.")
        self.image.setObjectName("detailsImage")
        self.image.setMinimumHeight(80)  # at 900x600 the gallery above needs the room
        self.info = QPlainTextEdit()
        self.info.setObjectName("detailsText")
        self.info.setReadOnly(True)
        self.info.setMaximumHeight(130)
        self.copy_button = QPushButton("Copy prompt")
        self.reuse_button = QPushButton("Reuse parameters")
        self.reuse_button.setObjectName("reuseButton")
        self.reuse_button.setToolTip("Fill the form with this image's settings, seed included")
        self.favorite_button = QPushButton("\u2606 Favorite")
        self.favorite_button.setCheckable(True)
        self.img2img_button = QPushButton("To image to image")
        self.img2img_button.setObjectName("sendToSource")
        self.img2img_button.setToolTip("Send to image to image: start from this image")
        self.inpaint_button = QPushButton("Inpaint\u2026")
        self.inpaint_button.setObjectName("inpaintButton")
        self.inpaint_button.setToolTip("Start from this image and paint what to repaint")
        self.open_button = QPushButton("Open")
        self.folder_button = QPushButton("Show in folder")
        self.export_button = QPushButton("Export\u2026")
        self.delete_button = QPushButton("Delete")
        self.delete_button.setProperty("role", "danger")
        # Rows that wrap: in a narrow pane a button moves down instead of losing its label.
        self.buttons = QWidget()
        flow = FlowLayout(self.buttons)
        for b in (self.reuse_button, self.copy_button, self.favorite_button, self.img2img_button,
                  self.inpaint_button, self.open_button, self.folder_button, self.export_button,
                  self.delete_button):
            flow.addWidget(b)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.image, 1)
        layout.addWidget(self.info)
        layout.addWidget(self.buttons)
        self.copy_button.clicked.connect(self._copy)
        self.reuse_button.clicked.connect(lambda: self.entry and self.reuse.emit(self.entry))
        self.img2img_button.clicked.connect(lambda: self.entry and self.to_source.emit(self.entry, False))
        self.inpaint_button.clicked.connect(lambda: self.entry and self.to_source.emit(self.entry, True))
        self.favorite_button.clicked.connect(
            lambda checked: self.entry and self.favorite.emit(self.entry, checked))
        self.delete_button.clicked.connect(lambda: self.entry and self.delete.emit(self.entry))
        self.export_button.clicked.connect(lambda: self.entry and self.export.emit(self.entry))
        self.open_button.clicked.connect(self._open)
        self.folder_button.clicked.connect(self._show_folder)
        self.show_entry(None)

    def show_entry(self, entry: Optional[Entry], pixmap: Optional[QPixmap] = None) -> None:
        self.entry = entry
        for b in (self.copy_button, self.reuse_button, self.favorite_button, self.open_button,
                  self.folder_button, self.export_button, self.delete_button, self.img2img_button,
                  self.inpaint_button):
            b.setEnabled(entry is not None)
        self.info.setVisible(entry is not None)
        if entry is None:
            self.image.set_image(None)
            self.info.setPlainText("")
            return
        self.image.set_image(pixmap)
        r = entry.request
        lines = [r.prompt]
        if r.negative_prompt:
            lines.append(f"Negative prompt: {r.negative_prompt}")
        lines.append(f"Seed {r.seed} \u00b7 {a1111_name(r.sampler)}, {r.steps} steps \u00b7 "
                     f"guidance {r.guidance:g} \u00b7 "
                     + (f"clip skip {r.clip_skip} \u00b7 " if r.clip_skip != 1 else "")
                     + f"{r.width}\u00d7{r.height}")
        if r.source is not None:
            lines.append(source_line(r.source))
        lines.append(f"{entry.model_label} \u00b7 {entry.when}"
                     + (" \u00b7 mixed precision" if r.mixed_precision else "")
                     + (" \u00b7 XLA" if r.xla else ""))
        if entry.origin_mark:
            lines.append(entry.queued_by)
        lines.append(str(entry.path))
        self.info.setPlainText("\n".join(lines))
        self.favorite_button.setChecked(entry.favorite)
        self.favorite_button.setText("\u2605 Favorite" if entry.favorite else "\u2606 Favorite")

    def _open(self) -> None:
        if self.entry is not None and not desktop.open_path(self.entry.path):
            self.open_failed.emit("Cannot open the image",
                                  f"No application opened {self.entry.path}.")

    def _show_folder(self) -> None:
        if self.entry is not None and not desktop.show_in_folder(self.entry.path):
            self.open_failed.emit("Cannot show the folder",
                                  f"No file manager opened {self.entry.path.parent}.")

    def _copy(self) -> None:
        if self.entry is not None:
            QGuiApplication.clipboard().setText(self.entry.request.prompt)


def source_line(source) -> str:
    """How an image to image result was made, in the details (issue 31: it was not said)."""
    parts = [f"Image to image \u00b7 strength {source.strength:g}"]
    if source.mask is not None:
        parts.append(f"inpainted (mask blur {source.mask_blur} px)")
    if any(source.outpaint):
        left, top, right, bottom = source.outpaint
        parts.append(f"outpainted {left}, {top}, {right}, {bottom} px (left, top, right, bottom)")
    return " \u00b7 ".join(parts)
