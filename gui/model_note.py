"""One line under the form about the chosen model, where it needs one (the demo)."""
from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget


class ModelNote(QFrame):
    words_requested = Signal()

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setObjectName("modelNote")
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setProperty("role", "hint")
        self.words_button = QPushButton("Words it knows\u2026")
        self.words_button.setObjectName("demoWordsButton")
        self.words_button.clicked.connect(self.words_requested)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.words_button)
        self.show_about("", False)

    def show_about(self, about: str, has_words: bool) -> None:
        self.text.setText(about)
        self.words_button.setVisible(has_words)
        self.setVisible(bool(about))
