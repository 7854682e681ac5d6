"""The form's "Hires fix" section: A1111's hires fix settings, folded away until turned on.

Its values are a request's `hires` part (engine.request.Hires); what is allowed is
the request's own validate(), shown under the section like any field's problem.
"""
from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox,
                               QLabel, QSpinBox, QVBoxLayout, QWidget)

from engine.hires.advice import size_note
from engine.request import HIRES_SCALE_RANGE, HIRES_UPSCALERS, STRENGTH_RANGE, GenerationRequest, Hires
from gui.form_fields import error_label
from gui.stack import size_pair

# The request's problems shown under this section.
HIRES_FIELDS = ("hires", "hires_scale", "hires_width", "hires_height", "hires_steps",
                "hires_denoise", "hires_upscaler")


class HiresSection(QGroupBox):
    """Checked: the request gets a hires fix; unchecked, the settings fold away and are kept."""

    changed = Signal()

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__("Hires fix", parent)
        self.setObjectName("hiresFix")
        self.setCheckable(True)
        self.setChecked(False)
        self.setToolTip("Draw at the model's size, enlarge, then repaint at the larger size: "
                        "large images without repeated subjects (A1111's hires fix).")
        defaults = Hires()
        self.upscaler = QComboBox()
        self.upscaler.setObjectName("hiresUpscaler")
        for name in HIRES_UPSCALERS:
            self.upscaler.addItem(name, name)
        self.upscaler.setToolTip("Latent modes enlarge the first pass before decoding (fast; "
                                 "want a denoising strength of 0.5 or more); Lanczos and Nearest "
                                 "enlarge its pixels.")
        self.scale = QDoubleSpinBox()
        self.scale.setObjectName("hiresScale")
        self.scale.setRange(HIRES_SCALE_RANGE[0], 99.0)
        self.scale.setSingleStep(0.25)
        self.scale.setDecimals(2)
        self.resize_width, self.resize_height = QSpinBox(), QSpinBox()
        for box, name in ((self.resize_width, "hiresWidth"), (self.resize_height, "hiresHeight")):
            box.setObjectName(name)
            box.setRange(0, 99_999)
            box.setSingleStep(64)
            box.setSpecialValueText("auto")
            box.setSuffix(" px")
            box.setToolTip("0 (auto) follows the upscale factor, or the image's shape when the "
                           "other side is set.")
        self.steps = QSpinBox()
        self.steps.setObjectName("hiresSteps")
        self.steps.setRange(0, 99_999)
        self.steps.setSpecialValueText("same as Steps")
        self.denoise = QDoubleSpinBox()
        self.denoise.setObjectName("hiresDenoise")
        self.denoise.setRange(STRENGTH_RANGE[0], 99.0)
        self.denoise.setSingleStep(0.05)
        self.denoise.setDecimals(2)
        self.target = QLabel()
        self.target.setObjectName("hiresTarget")
        self.error = error_label("hires")
        # Under the form's size fields: sizes the model draws badly in one pass.
        self.size_note = QLabel()
        self.size_note.setObjectName("sizeNote")
        self.size_note.setWordWrap(True)
        self.size_note.setVisible(False)

        body = QWidget()
        self._body = body
        grid = QFormLayout(body)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addRow("Upscaler", self.upscaler)
        grid.addRow("Upscale by", self.scale)
        grid.addRow("Or resize to", size_pair(self.resize_width, self.resize_height))
        grid.addRow("Hires steps", self.steps)
        grid.addRow("Denoising", self.denoise)
        grid.addRow("", self.target)
        column = QVBoxLayout(self)
        column.addWidget(body)
        column.addWidget(self.error)
        self.set_hires(defaults, on=False)

        self.toggled.connect(self._on_toggled)
        for signal in (self.upscaler.currentIndexChanged, self.scale.valueChanged,
                       self.resize_width.valueChanged, self.resize_height.valueChanged,
                       self.steps.valueChanged, self.denoise.valueChanged):
            signal.connect(self.changed)

    def _on_toggled(self, on: bool) -> None:
        self._body.setVisible(on)
        self.changed.emit()

    def settings(self) -> Hires:
        """The fields as a Hires, whether or not the section is on."""
        return Hires(scale=round(self.scale.value(), 2), width=self.resize_width.value(),
                     height=self.resize_height.value(), steps=self.steps.value(),
                     denoise=round(self.denoise.value(), 2), upscaler=str(self.upscaler.currentData()))

    def hires(self) -> Optional[Hires]:
        return self.settings() if self.isChecked() else None

    def set_hires(self, hires: Optional[Hires], on: Optional[bool] = None) -> None:
        """Fills the fields from `hires` (None: turns the section off, keeping them)."""
        if hires is not None:
            index = self.upscaler.findData(hires.upscaler)
            self.upscaler.setCurrentIndex(max(0, index))
            self.scale.setValue(float(hires.scale))
            self.resize_width.setValue(int(hires.width))
            self.resize_height.setValue(int(hires.height))
            self.steps.setValue(int(hires.steps))
            self.denoise.setValue(float(hires.denoise))
        self.setChecked(hires is not None if on is None else on)
        self._body.setVisible(self.isChecked())

    def show_target(self, width: int, height: int) -> None:
        """The size the images will have, for the first pass's `width` x `height`."""
        w, h = self.settings().target_size(width, height) if width and height else (0, 0)
        self.target.setText(f"{width}\u00d7{height} \u2192 {w}\u00d7{h}")

    def show_problems(self, request: GenerationRequest, problems: dict[str, list[str]]) -> None:
        """The form's request checked: its hires problems (by field), target and size note."""
        text = "\n".join(message for name in HIRES_FIELDS for message in problems.get(name, []))
        self.error.setText(text)
        self.error.setVisible(bool(text))
        self.show_target(request.width, request.height)
        note = size_note(request.model, request.width, request.height, request.hires is not None)
        self.size_note.setText(note or "")
        self.size_note.setVisible(bool(note))

    # ---- kept in the window's settings (gui/form_settings.py) ------------------------

    def saved_state(self) -> dict:
        return {"on": self.isChecked(), **self.settings().__dict__}

    def restore_state(self, state: dict) -> None:
        try:
            hires = Hires.from_dict({k: v for k, v in state.items() if k != "on"})
            self.set_hires(hires, on=bool(state.get("on", False)))
        except (TypeError, ValueError, AttributeError):
            pass  # a damaged entry leaves the defaults
