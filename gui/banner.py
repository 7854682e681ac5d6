"""The message across the top of the window: errors stay until dismissed, notes can
carry an action."""
from __future__ import annotations

from typing import Callable, Optional

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QToolButton, QVBoxLayout, QWidget


class Banner(QFrame):
    """A message across the top: errors stay until dismissed, notes can carry an action,
    which the part that showed the message runs."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        self._on_action: Optional[Callable[[], None]] = None
        self.title = QLabel()
        self.title.setObjectName("bannerTitle")
        self.text = QLabel()
        self.text.setObjectName("bannerText")
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.button = QPushButton()
        self.button.setObjectName("bannerAction")
        self.button.clicked.connect(self._act)
        close = QToolButton()
        close.setText("\u2715")
        close.setToolTip("Dismiss")
        close.clicked.connect(self.hide)
        # The action under the text, not beside it: beside, in the narrow centre column of a
        # 900x600 window, the text took the width and the button read "esume the queu".
        column = QVBoxLayout()
        column.addWidget(self.title)
        column.addWidget(self.text)
        column.addWidget(self.button, 0, Qt.AlignmentFlag.AlignLeft)
        row = QHBoxLayout(self)
        row.addLayout(column, 1)
        row.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.hide()

    def show_message(self, kind: str, title: str, text: str, action: str = "",
                     on_action: Optional[Callable[[], None]] = None) -> None:
        """`action` names the button, which calls `on_action`; none without it."""
        self._on_action = on_action
        self.setProperty("kind", kind)  # "error" or "info", styled by the stylesheet
        self.style().unpolish(self)
        self.style().polish(self)
        self.title.setText(title)
        self.title.setVisible(bool(title))
        self.text.setText(text)
        self.button.setText(action)
        self.button.setVisible(bool(action))
        self.show()

    def withdraw(self, text: str) -> None:
        """Hides the message `text` once it is no longer true; another message that has
        taken its place since stays."""
        if not self.isHidden() and self.text.text() == text:
            self.hide()

    @property
    def kind(self) -> str:
        return str(self.property("kind") or "")

    def _act(self) -> None:
        if self._on_action is not None:
            self._on_action()
