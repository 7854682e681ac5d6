"""Help menu content: about (versions, backend, device), keyboard shortcuts, the demo's words."""
from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QMessageBox

from engine.examples import demo_words

if TYPE_CHECKING:
    from gui.mainwindow import MainWindow

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


def about_text(window: "MainWindow") -> str:
    from engine.versions import versions
    lines = ["<b>SD Desk</b>: Stable Diffusion on KerasCV, on your own computer.", "",
             f"Running on: {window.device_label.text()}", ""]
    lines += [f"{name} {version}" for name, version in versions().items()]
    return "<br>".join(lines)


def show_about(window: "MainWindow") -> QMessageBox:
    return _show(window, "About SD Desk", about_text(window))


def show_shortcuts(window: "MainWindow") -> QMessageBox:
    rows = "".join(f"<tr><td><b>{keys}</b>&nbsp;&nbsp;</td><td>{what}</td></tr>"
                   for keys, what in SHORTCUTS)
    return _show(window, "Keyboard shortcuts", f"<table>{rows}</table>")


def show_demo_words(window: "MainWindow") -> QMessageBox:
    text = ("The demo model draws circles, squares and triangles. It knows these words, "
            "and no others:<br><br><b>" + ", ".join(demo_words()) + "</b><br><br>"
            "For example: \u201ca small red circle on the left, blue background\u201d.")
    return _show(window, "Words the demo model knows", text)


def _show(window: "MainWindow", title: str, text: str) -> QMessageBox:
    box = QMessageBox(QMessageBox.Icon.Information, title, text, QMessageBox.StandardButton.Close, window)
    box.setObjectName("helpDialog")
    box.setModal(False)
    box.show()
    window.help_dialog = box  # kept alive while shown
    return box
