"""Widgets one above the other with a small gap, as the form and Preferences lay out a
field with its caption and message."""
from __future__ import annotations

from PySide6.QtWidgets import QVBoxLayout, QWidget


def stacked(*widgets: QWidget) -> QWidget:
    box = QWidget()
    column = QVBoxLayout(box)
    column.setContentsMargins(0, 0, 0, 0)
    column.setSpacing(2)
    for w in widgets:
        column.addWidget(w)
    return box
