"""What can be done with the gallery's selected images: its context menu, whose actions
the window's Edit menu and shortcuts share."""
from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QGuiApplication, QImage, QKeySequence
from PySide6.QtWidgets import QMenu

if TYPE_CHECKING:
    from gui.mainwindow import MainWindow


def gallery_menu(window: "MainWindow") -> QMenu:
    entries = window.selected_entries()
    menu = QMenu(window)
    menu.setObjectName("galleryMenu")
    one = entries[0] if len(entries) == 1 else None
    many = f" {len(entries)} images" if len(entries) > 1 else ""

    def add(text: str, slot, enabled: bool = True, shortcut=None) -> QAction:
        action = menu.addAction(text, slot)
        action.setEnabled(enabled and bool(entries))
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        return action

    add("View", lambda: window.open_viewer(window.gallery_view.currentIndex().row()), one is not None)
    add("Reuse parameters", lambda: window.reuse(window.full_entry(one)), one is not None)
    add("Send to image to image", lambda: window.use_as_source(one.path), one is not None)
    add("Inpaint\u2026", lambda: window.use_as_source(one.path, inpaint=True), one is not None)
    menu.addSeparator()
    add("Copy image", lambda: copy_image(window, one), one is not None, QKeySequence.StandardKey.Copy)
    add("Copy prompt", lambda: QGuiApplication.clipboard().setText(one.request.prompt), one is not None)
    menu.addSeparator()
    all_favourite = bool(entries) and all(e.favorite for e in entries)
    add(("Remove from favorites" if all_favourite else "Add to favorites") + many,
        lambda: window.set_favorites(entries, not all_favourite))
    add(f"Export{many}\u2026", lambda: window.export_entries(entries))
    add("Show in folder", lambda: window.show_entry_in_folder(one), one is not None)
    menu.addSeparator()
    delete = add(f"Delete{many}", lambda: window.delete_entries(entries),
                 shortcut=QKeySequence.StandardKey.Delete)
    delete.setObjectName("deleteAction")
    return menu


def copy_image(window: "MainWindow", entry) -> bool:
    image = QImage(str(entry.path))
    if image.isNull():
        window.show_error("Cannot copy the image", f"{entry.path} cannot be read.")
        return False
    QGuiApplication.clipboard().setImage(image)
    window.statusBar().showMessage("Image copied.", 3000)
    return True
