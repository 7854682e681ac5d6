"""Help menu content: about (versions, backend, device), keyboard shortcuts, the demo's words."""
from __future__ import annotations

from typing import Callable, Optional

from PySide6.QtWidgets import QMessageBox, QWidget

from engine.examples import demo_words

# (keys, what they do): shown in Help > Keyboard shortcuts; the menus show theirs too.
SHORTCUTS = (
    ("Ctrl+Enter", "Generate"),
    ("Esc", "Cancel the running job"),
    ("Ctrl+O", "Open an image and use its recipe"),
    ("Ctrl+F", "Search the history"),
    ("Ctrl+A", "Select every image in the gallery"),
    ("Ctrl+C", "Copy the selected image"),
    ("Delete", "Delete the selected images (Ctrl+Z undoes)"),
    ("Ctrl+Z", "Undo the last delete"),
    ("Double-click", "View an image at full size (\u2190 \u2192 to step, + \u2212 to zoom, F to fit)"),
    ("Ctrl+,", "Preferences"),
    ("F11", "Full screen"),
    ("F1", "This list"),
    ("Ctrl+Q", "Quit"),
)


def about_text(running_on: str) -> str:
    from engine.versions import versions
    lines = ["<b>SD Desk</b>: Stable Diffusion on KerasCV, on your own computer.", "",
             f"Running on: {running_on}", ""]
    lines += [f"{name} {version}" for name, version in versions().items()]
    return "<br>".join(lines)


class HelpDialogs:
    """The Help menu's boxes, and the demo's words the model note offers; `dialog` is the
    one shown last, kept alive while it is open."""

    def __init__(self, parent: QWidget, running_on: Callable[[], str]) -> None:
        """`running_on()`: the status bar's word on the engine (gui.engine_status)."""
        self.parent = parent
        self.running_on = running_on
        self.dialog: Optional[QMessageBox] = None

    def show_about(self) -> QMessageBox:
        return self._show("About SD Desk", about_text(self.running_on()))

    def show_shortcuts(self) -> QMessageBox:
        rows = "".join(f"<tr><td><b>{keys}</b>&nbsp;&nbsp;</td><td>{what}</td></tr>"
                       for keys, what in SHORTCUTS)
        return self._show("Keyboard shortcuts", f"<table>{rows}</table>")

    def show_demo_words(self) -> QMessageBox:
        text = ("The demo model draws circles, squares and triangles. It knows these words, "
                "and no others:<br><br><b>" + ", ".join(demo_words()) + "</b><br><br>"
                "For example: \u201ca small red circle on the left, blue background\u201d.")
        return self._show("Words the demo model knows", text)

    def _show(self, title: str, text: str) -> QMessageBox:
        box = QMessageBox(QMessageBox.Icon.Information, title, text, QMessageBox.StandardButton.Close,
                          self.parent)
        box.setObjectName("helpDialog")
        box.setModal(False)
        box.show()
        self.dialog = box
        return box
