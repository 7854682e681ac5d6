"""Small layouts the form's parts share: widgets one above the other with a small gap, as
the form and Preferences lay out a field with its caption and message; a size's two fields."""
from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget


def stacked(*widgets: QWidget) -> QWidget:
    box = QWidget()
    column = QVBoxLayout(box)
    column.setContentsMargins(0, 0, 0, 0)
    column.setSpacing(2)
    for w in widgets:
        column.addWidget(w)
    return box


def size_pair(width: QWidget, height: QWidget) -> QWidget:
    """Two size fields on one line, `width × height`, as every size in the form is shown."""
    box = QWidget()
    row = QHBoxLayout(box)
    row.setContentsMargins(0, 0, 0, 0)
    row.addWidget(width)
    row.addWidget(QLabel("\u00d7"))
    row.addWidget(height)
    row.addStretch(1)
    return box
