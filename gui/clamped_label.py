"""A message line that keeps its place: a fixed number of lines, kept when hidden.

Messages that came and went under the prompt (the demo model's "does not know" at each
half-typed word) pushed everything below them up and down: the form jumped. This label
always takes the same room; a longer text is cut with "\u2026" and is whole in its tooltip.
`text()` is the whole text.
"""
from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Qt
from PySide6.QtGui import QTextLayout
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget


class ClampedLabel(QLabel):
    def __init__(self, lines: int, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self._lines = lines
        self._full = ""
        self.setWordWrap(False)  # the wrapping is ours, so the line count is ours too
        self.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        policy = self.sizePolicy()
        policy.setRetainSizeWhenHidden(True)
        policy.setHorizontalPolicy(QSizePolicy.Policy.Ignored)  # any width; the text fits it
        self.setSizePolicy(policy)
        self._fit_height()

    def text(self) -> str:
        return self._full

    def setText(self, text: str) -> None:
        self._full = text or ""
        self._show()

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() in (event.Type.FontChange, event.Type.StyleChange):
            self._fit_height()
            self._show()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if event.oldSize().width() != event.size().width():
            self._show()

    def _fit_height(self) -> None:
        margins = self.contentsMargins()
        self.setFixedHeight(self.fontMetrics().lineSpacing() * self._lines
                            + margins.top() + margins.bottom() + 2 * self.margin())

    def _show(self) -> None:
        shown, cut = wrap_lines(self._full, self, self.contentsRect().width(), self._lines)
        super().setText("\n".join(shown))
        self.setToolTip(self._full if cut else "")


def wrap_lines(text: str, label: QLabel, width: int, lines: int) -> tuple[list[str], bool]:
    """`text` wrapped at word breaks to `width` pixels in `label`'s font: at most `lines`
    lines, the last cut with an ellipsis when more was left; and whether anything was cut."""
    if width <= 0 or not text:
        return ([text] if text else []), False
    metrics = label.fontMetrics()
    shown: list[str] = []
    paragraphs = text.split("\n")
    for n, paragraph in enumerate(paragraphs):
        layout = QTextLayout(paragraph, label.font())
        layout.beginLayout()
        spans = []
        while True:
            line = layout.createLine()
            if not line.isValid():
                break
            line.setLineWidth(width)
            spans.append((line.textStart(), line.textLength()))
        layout.endLayout()
        spans = spans or [(0, 0)]
        room = lines - len(shown)
        if len(spans) > room:
            shown += [paragraph[s:s + k].rstrip() for s, k in spans[:room - 1]]
            rest = paragraph[spans[room - 1][0]:]
            shown.append(metrics.elidedText(rest, Qt.TextElideMode.ElideRight, width))
            return shown, True
        shown += [paragraph[s:s + k].rstrip() for s, k in spans]
        if len(shown) == lines and n < len(paragraphs) - 1:
            last = shown[-1] + " \u2026"
            while shown[-1] and metrics.horizontalAdvance(last) > width:
                shown[-1] = shown[-1][:-1]
                last = shown[-1].rstrip() + " \u2026"
            shown[-1] = last
            return shown, True
    return shown, False
