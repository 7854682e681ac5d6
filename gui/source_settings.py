"""How the form's source image is used: strength, mask blur, the outpaint margins and, where
a part is repainted (a mask or margins), what that part starts from."""
from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QComboBox, QFormLayout, QGridLayout, QHBoxLayout, QLabel, QSlider,
                               QSpinBox, QWidget)

from engine.request import INPAINT_FILLS, MASK_BLUR_RANGE, MAX_SIDE, SIDE_STEP, STRENGTH_RANGE, Source

_DEFAULT = Source(image="")  # the request's own defaults: strength, mask blur, fill
STRENGTH_TICKS = 100  # the slider's steps across STRENGTH_RANGE
MARGIN_NAMES = ("left", "top", "right", "bottom")
# A1111's "Masked content" choices, in its words, and what each does.
FILL_LABELS = {
    "fill": ("Fill from around it", "Starts from the colours around the masked part"),
    "original": ("Original", "Starts from what is there: below strength 1 it changes little"),
    "latent-noise": ("Latent noise", "Starts from noise: repaints even at lower strengths"),
    "latent-nothing": ("Latent nothing", "Starts from a blank latent"),
}


class SourceSettings(QWidget):
    changed = Signal()  # strength, mask blur or the fill
    margins_changed = Signal()  # the canvas grows or shrinks

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.strength = QSlider(Qt.Orientation.Horizontal)
        self.strength.setObjectName("strength")
        self.strength.setRange(0, STRENGTH_TICKS)
        self.strength.setValue(_ticks(_DEFAULT.strength))
        self.strength.setToolTip("How much to change: 0 keeps the source, 1 repaints it all")
        self.strength_value = QLabel()
        self.strength_value.setMinimumWidth(32)
        self.mask_blur = QSpinBox()
        self.mask_blur.setObjectName("mask_blur")
        self.mask_blur.setRange(*MASK_BLUR_RANGE)
        self.mask_blur.setValue(_DEFAULT.mask_blur)
        self.mask_blur.setSuffix(" px")
        self.mask_blur.setToolTip("How softly the repainted part blends into the rest")
        self.margins = {}
        for name in MARGIN_NAMES:
            box = QSpinBox()
            box.setObjectName(f"outpaint_{name}")
            box.setRange(0, MAX_SIDE)
            box.setSingleStep(SIDE_STEP)
            box.setToolTip(f"Outpainting: pixels added on the {name}, repainted (multiples of {SIDE_STEP})")
            self.margins[name] = box
        self.fill = QComboBox()
        self.fill.setObjectName("inpaint_fill")
        for fill in INPAINT_FILLS:
            label, tip = FILL_LABELS[fill]
            self.fill.addItem(label, fill)
            self.fill.setItemData(self.fill.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.fill.setToolTip("What the masked part (and the margins) starts from before repainting")
        self._set_fill(_DEFAULT.inpaint_fill)
        self._masked = False

        strength_row = QHBoxLayout()
        strength_row.addWidget(self.strength, 1)
        strength_row.addWidget(self.strength_value)
        # Two by two: four boxes in a row would not fit the form's column.
        margin_grid = QGridLayout()
        margin_grid.setContentsMargins(0, 0, 0, 0)
        for index, name in enumerate(MARGIN_NAMES):
            row, column = divmod(index, 2)
            label = QLabel(name.capitalize())
            label.setProperty("role", "hint")
            margin_grid.addWidget(label, row, 2 * column)
            margin_grid.addWidget(self.margins[name], row, 2 * column + 1)
        margin_grid.setColumnStretch(1, 1)
        margin_grid.setColumnStretch(3, 1)
        grid = QFormLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addRow("Strength", strength_row)
        grid.addRow("Mask blur", self.mask_blur)
        grid.addRow("Masked content", self.fill)
        self._grid = grid
        outpaint_caption = QLabel(f"Outpaint: pixels added on each side (multiples of {SIDE_STEP})")
        outpaint_caption.setWordWrap(True)
        grid.addRow(outpaint_caption)
        grid.addRow(margin_grid)

        self.strength.valueChanged.connect(self._on_setting)
        self.mask_blur.valueChanged.connect(self._on_setting)
        self.fill.currentIndexChanged.connect(self._on_setting)
        for box in self.margins.values():
            box.valueChanged.connect(self._on_margins)
        self._show_strength()
        self._show_fill()

    def strength_now(self) -> float:
        low, high = STRENGTH_RANGE
        return round(low + (high - low) * self.strength.value() / STRENGTH_TICKS, 4)

    def margins_now(self) -> tuple[int, int, int, int]:
        return tuple(self.margins[name].value() for name in MARGIN_NAMES)

    def fill_now(self) -> str:
        return self.fill.currentData()

    def chosen(self) -> dict:
        """The settings as Source fields (and prepare()'s keyword arguments)."""
        return {"strength": self.strength_now(), "mask_blur": self.mask_blur.value(),
                "outpaint": self.margins_now(), "inpaint_fill": self.fill_now()}

    def show_fill(self, masked: bool) -> None:
        """The fill matters where a part is repainted: a mask, or margins (known here)."""
        self._masked = masked
        self._show_fill()

    def set_from(self, source: Source) -> None:
        """A stored source's settings, quietly: what it shows is what it was made with."""
        widgets = [self.strength, self.mask_blur, self.fill, *self.margins.values()]
        for widget in widgets:
            widget.blockSignals(True)
        try:
            self.strength.setValue(_ticks(source.strength))
            self.mask_blur.setValue(int(source.mask_blur))
            for name, value in zip(MARGIN_NAMES, source.outpaint):
                self.margins[name].setValue(int(value))
            self._set_fill(source.inpaint_fill)
        finally:
            for widget in widgets:
                widget.blockSignals(False)
        self._show_strength()
        self._show_fill()

    def _on_setting(self, *_args) -> None:
        self._show_strength()
        self.changed.emit()

    def _on_margins(self, *_args) -> None:
        self._show_fill()
        self.margins_changed.emit()

    def _set_fill(self, fill: str) -> None:
        index = self.fill.findData(fill)
        self.fill.setCurrentIndex(index if index >= 0 else self.fill.findData(_DEFAULT.inpaint_fill))

    def _show_fill(self) -> None:
        self._grid.setRowVisible(self.fill, self._masked or any(self.margins_now()))

    def _show_strength(self) -> None:
        self.strength_value.setText(f"{self.strength_now():.2f}")


def _ticks(strength: float) -> int:
    low, high = STRENGTH_RANGE
    return int(round((strength - low) / (high - low) * STRENGTH_TICKS))
