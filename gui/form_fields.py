"""The form's own field widgets: the prompt boxes and their headers, the seed, clip skip,
and the line under a field that says what is wrong with it."""
from __future__ import annotations

import random
from typing import Optional

from PySide6.QtCore import QRegularExpression, Qt, Signal
from PySide6.QtGui import QKeyEvent, QRegularExpressionValidator
from PySide6.QtWidgets import (QCheckBox, QHBoxLayout, QLabel, QLineEdit, QPlainTextEdit, QSpinBox,
                               QToolButton, QVBoxLayout, QWidget)

from engine.request import CLIP_SKIP_RANGE, MAX_SEED
from gui.clamped_label import ClampedLabel

PROMPT_BOXES = ("prompt", "negative_prompt")


class PromptEdit(QPlainTextEdit):
    """A prompt box where Ctrl+Enter submits instead of inserting a line break."""

    submit = Signal()

    def __init__(self, placeholder: str, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setPlaceholderText(placeholder)
        self.setTabChangesFocus(True)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and \
                event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.submit.emit()
            event.accept()
            return
        super().keyPressEvent(event)


class SeedEdit(QWidget):
    """Digits in a line edit: QSpinBox stops at 2**31 - 1, and seeds go to 2**32 - 1 (or beyond)."""

    changed = Signal()

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.edit = QLineEdit("0")
        self.edit.setObjectName("seed")
        self.edit.setValidator(QRegularExpressionValidator(QRegularExpression(r"\d{0,20}")))
        self.edit.setToolTip(f"Seed, 0 to {MAX_SEED}. The same seed and settings give the same image.")
        self.dice = QToolButton()
        self.dice.setText("\u2684")
        self.dice.setObjectName("randomizeSeed")
        self.dice.setToolTip("New random seed")
        self.lock = QCheckBox("Lock")
        self.lock.setObjectName("lockSeed")
        self.lock.setToolTip("Keep this seed for the next generations; unlocked, each Generate draws a new one.")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.edit, 1)
        row.addWidget(self.dice)
        row.addWidget(self.lock)
        self.edit.textChanged.connect(self.changed)
        self.dice.clicked.connect(self.randomize)

    def value(self) -> Optional[int]:
        text = self.edit.text().strip()
        return int(text) if text else None

    def set_value(self, seed: int) -> None:
        self.edit.setText(str(int(seed)))

    def randomize(self) -> int:
        seed = random.randrange(MAX_SEED + 1)
        self.set_value(seed)
        return seed

    @property
    def locked(self) -> bool:
        return self.lock.isChecked()


class ClipSkipBox(QWidget):
    """A1111's Clip skip; for a model whose text model has no layers to skip (the demo's),
    greyed with a note, and sent as 1 so no recipe claims a skip that never happened."""

    changed = Signal()

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.spin = QSpinBox()
        self.spin.setObjectName("clip_skip")
        self.spin.setRange(*CLIP_SKIP_RANGE)
        self.spin.setValue(1)
        self.usable = True  # a flag, not isEnabled(): that one is False in a disabled parent too
        self.spin.setToolTip("Many SD 1.x fine-tunes expect 2 (A1111's Clip skip): the prompt is "
                             "read from the text encoder's layer before last.")
        self.note = QLabel("Not used: this model's own text model has no layers to skip.")
        self.note.setObjectName("clipSkipNote")
        self.note.setProperty("role", "hint")
        self.note.setWordWrap(True)
        self.note.setVisible(False)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        column.addWidget(self.spin)
        column.addWidget(self.note)
        self.spin.valueChanged.connect(self.changed)

    def value(self) -> int:
        """What the request gets: 1 where the model has nothing to skip."""
        return self.spin.value() if self.usable else 1

    def set_value(self, value: int) -> None:
        self.spin.setValue(int(value))

    def set_usable(self, usable: bool) -> None:
        if usable != self.usable:
            self.usable = usable
            self.spin.setEnabled(usable)
            self.note.setVisible(not usable)
            self.changed.emit()


def error_label(name: str) -> QLabel:
    """The line under a field that says what is wrong with it."""
    if name in PROMPT_BOXES:
        # One line, kept when empty: its problems come and go as the person types, and
        # must not push the rest of the form about (the whole message is its tooltip, and
        # the window's line under Generate).
        label = ClampedLabel(1)
    else:
        label = QLabel()
        label.setWordWrap(True)
    label.setObjectName(f"error_{name}")
    label.setProperty("role", "fieldError")
    label.setVisible(False)
    return label


def caption(text: str) -> QLabel:
    label = QLabel(text)
    label.setProperty("role", "caption")
    return label


def prompt_header(title: str, *buttons: QWidget) -> QWidget:
    """A prompt box's caption, with its buttons (LoRA…, Embedding…) at the right."""
    row = QWidget()
    line = QHBoxLayout(row)
    line.setContentsMargins(0, 0, 0, 0)
    line.addWidget(caption(title))
    line.addStretch(1)
    for button in buttons:
        line.addWidget(button)
    return row
