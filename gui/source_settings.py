"""How the form's source image is used: strength, mask blur and the outpaint margins."""
from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFormLayout, QGridLayout, QHBoxLayout, QLabel, QSlider, QSpinBox, QWidget

from engine.request import MASK_BLUR_RANGE, MAX_SIDE, SIDE_STEP, STRENGTH_RANGE, Source

_DEFAULT = Source(image="")  # the request's own defaults: strength, mask blur
STRENGTH_TICKS = 100  # the slider's steps across STRENGTH_RANGE
MARGIN_NAMES = ("left", "top", "right", "bottom")


class SourceSettings(QWidget):
    changed = Signal()  # strength or mask blur
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
        outpaint_caption = QLabel(f"Outpaint: pixels added on each side (multiples of {SIDE_STEP})")
        outpaint_caption.setWordWrap(True)
        grid.addRow(outpaint_caption)
        grid.addRow(margin_grid)

        self.strength.valueChanged.connect(self._on_setting)
        self.mask_blur.valueChanged.connect(self._on_setting)
        for box in self.margins.values():
            box.valueChanged.connect(lambda _value: self.margins_changed.emit())
        self._show_strength()

    def strength_now(self) -> float:
        low, high = STRENGTH_RANGE
        return round(low + (high - low) * self.strength.value() / STRENGTH_TICKS, 4)

    def margins_now(self) -> tuple[int, int, int, int]:
        return tuple(self.margins[name].value() for name in MARGIN_NAMES)

    def set_from(self, source: Source) -> None:
        """A stored source's settings, quietly: what it shows is what it was made with."""
        widgets = [self.strength, self.mask_blur, *self.margins.values()]
        for widget in widgets:
            widget.blockSignals(True)
        try:
            self.strength.setValue(_ticks(source.strength))
            self.mask_blur.setValue(int(source.mask_blur))
            for name, value in zip(MARGIN_NAMES, source.outpaint):
                self.margins[name].setValue(int(value))
        finally:
            for widget in widgets:
                widget.blockSignals(False)
        self._show_strength()

    def _on_setting(self, *_args) -> None:
        self._show_strength()
        self.changed.emit()

    def _show_strength(self) -> None:
        self.strength_value.setText(f"{self.strength_now():.2f}")


def _ticks(strength: float) -> int:
    low, high = STRENGTH_RANGE
    return int(round((strength - low) / (high - low) * STRENGTH_TICKS))
