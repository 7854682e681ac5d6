"""A word under the form about the chosen model, where it needs one (the demo), and the
settings a few-step model or LoRA is made for, offered in one click."""
from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget


class ModelNote(QFrame):
    words_requested = Signal()
    preset_requested = Signal()  # "Use these": the offered few-step settings into the form

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setObjectName("modelNote")
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setProperty("role", "hint")
        self.words_button = QPushButton("Words it knows\u2026")
        self.words_button.setObjectName("demoWordsButton")
        self.words_button.clicked.connect(self.words_requested)
        self.preset_text = QLabel()
        self.preset_text.setObjectName("fewStepNote")
        self.preset_text.setWordWrap(True)
        self.preset_text.setProperty("role", "hint")
        self.preset_button = QPushButton("Use these")
        self.preset_button.setObjectName("fewStepButton")
        self.preset_button.clicked.connect(self.preset_requested)
        about = QHBoxLayout()
        about.setContentsMargins(0, 0, 0, 0)
        about.addWidget(self.text, 1)
        about.addWidget(self.words_button)
        preset = QHBoxLayout()
        preset.setContentsMargins(0, 0, 0, 0)
        preset.addWidget(self.preset_text, 1)
        preset.addWidget(self.preset_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(about)
        layout.addLayout(preset)
        self._about = ""
        self.show_about("", False)
        self.offer("")

    def show_about(self, about: str, has_words: bool) -> None:
        self._about = about
        self.text.setText(about)
        self.text.setVisible(bool(about))
        self.words_button.setVisible(has_words)
        self._update_visibility()

    def offer(self, text: str, tooltip: str = "") -> None:
        """A few-step preset in words ("" offers none); the button sends preset_requested."""
        self.preset_text.setText(text)
        self.preset_button.setToolTip(tooltip)
        self.preset_text.setVisible(bool(text))
        self.preset_button.setVisible(bool(text))
        self._update_visibility()

    def _update_visibility(self) -> None:
        self.setVisible(bool(self._about) or bool(self.preset_text.text()))
