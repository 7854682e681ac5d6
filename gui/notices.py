"""How the window's parts speak to the person: the banner across the top, the status bar's
passing line, and the error dialog for what must not be missed."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QStatusBar, QWidget

from gui.banner import Banner


class Notices:
    def __init__(self, banner: Banner, status_bar: QStatusBar, window: QWidget) -> None:
        self.banner = banner
        self.status_bar = status_bar
        self.window = window

    def error(self, title: str, message: str) -> None:
        self.banner.show_message("error", title, message)

    def status(self, text: str, milliseconds: int) -> None:
        self.status_bar.showMessage(text, milliseconds)

    def error_dialog(self, title: str, message: str) -> QMessageBox:
        """An error the person must see even with the panel that caused it off screen: a
        window-modal box, opened without blocking (the event loop, and the tests, go on)."""
        box = QMessageBox(QMessageBox.Icon.Critical, title, message, QMessageBox.StandardButton.Ok,
                          self.window)
        box.setObjectName("errorDialog")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        return box
