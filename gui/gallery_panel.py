"""The right column: the history's images (search, favourites, the grid), the selected
one's details, and everything that can be done with the selected images: view, reuse,
send to image to image, copy, favourite, export, show in folder, delete and undo. Its
context menu and the Edit menu share these actions."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Optional

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QGuiApplication, QImage, QKeySequence, QPixmap, QShortcut
from PySide6.QtWidgets import (QCheckBox, QFileDialog, QHBoxLayout, QLabel, QLineEdit, QMenu,
                               QSplitter, QVBoxLayout, QWidget)

from gui import desktop
from gui.details_pane import DetailsPane
from gui.folders import remember_folder, start_folder
from gui.gallery import GalleryGrid, GalleryModel, ThumbnailLoader
from gui.history import Entry
from gui.notices import Notices

log = logging.getLogger(__name__)


class GalleryPanel(QSplitter):
    reuse_requested = Signal(object)  # an Entry with its whole recipe, for the form
    source_requested = Signal(object, bool)  # an image's path, and True to paint a mask (Inpaint)
    upscale_requested = Signal(object, bool)  # an Entry with its recipe, and True to repaint
    image_chosen = Signal(QPixmap)  # the selected image, for the big view

    def __init__(self, history_factory: Optional[Callable], notices: Notices, settings: QSettings,
                 parent: Optional[QWidget] = None) -> None:
        super().__init__(Qt.Orientation.Vertical, parent)
        self.notices = notices
        self.settings = settings  # where the export dialog starts
        self._undo: list[list[Entry]] = []  # each delete's images, newest last
        self.viewer = None  # the full-size viewer last opened (gui.viewer)
        self.context_menu_shown: Optional[QMenu] = None
        self.search = QLineEdit()
        self.search.setObjectName("search")
        self.search.setPlaceholderText("Search prompts\u2026")
        self.search.setToolTip("Words of the prompt; from:api finds the images API clients queued")
        self.search.setClearButtonEnabled(True)
        self.favorites_only = QCheckBox("Favorites")
        self.favorites_only.setObjectName("favoritesOnly")
        self.thumbs = ThumbnailLoader(parent=self)
        self.view = GalleryGrid(self.thumbs.size)
        self.count_label = QLabel()
        self.count_label.setProperty("role", "hint")
        self.details = DetailsPane()
        self.store = None
        self.model: Optional[GalleryModel] = None
        self._open_history(history_factory)

        grid = QWidget()
        column = QVBoxLayout(grid)
        column.setContentsMargins(0, 0, 0, 0)
        search_row = QHBoxLayout()
        search_row.addWidget(self.search, 1)
        search_row.addWidget(self.favorites_only)
        column.addLayout(search_row)
        column.addWidget(self.view, 1)
        self._count_row = QHBoxLayout()
        self._count_row.addWidget(self.count_label, 1)
        column.addLayout(self._count_row)
        self.addWidget(grid)
        self.addWidget(self.details)
        self.setStretchFactor(0, 3)
        self.setStretchFactor(1, 2)
        self._connect()
        self._update_count()

    def _open_history(self, history_factory: Optional[Callable]) -> None:
        if history_factory is None:
            return
        try:
            self.store = history_factory()
        except Exception as error:  # noqa: BLE001 - the window works without a gallery
            log.exception("history store failed to open")
            self.notices.error("History unavailable", str(error))
            return
        self.model = GalleryModel(self.store, self.thumbs, self)
        self.view.setModel(self.model)

    def _connect(self) -> None:
        self._search_timer = QTimer(self, singleShot=True, interval=250)
        self._search_timer.timeout.connect(self.apply_filters)
        self.search.textChanged.connect(lambda *_: self._search_timer.start())
        self.favorites_only.toggled.connect(lambda *_: self.apply_filters())
        self.view.selectionModel() and self.view.selectionModel().currentChanged.connect(
            lambda current, _previous: self._show_details(current.row()))
        self.view.doubleClicked.connect(lambda index: self.open_viewer(index.row()))
        self.view.customContextMenuRequested.connect(self.show_context_menu)
        QShortcut(QKeySequence.StandardKey.Delete, self.view,
                  activated=lambda: self.delete_entries(self.selected_entries()))
        QShortcut(QKeySequence.StandardKey.Copy, self.view, activated=self.copy_selected_image)
        self.details.reuse.connect(self.reuse_requested)
        self.details.to_source.connect(lambda entry, inpaint: self.source_requested.emit(entry.path, inpaint))
        self.details.favorite.connect(self.set_favorite)
        self.details.delete.connect(lambda entry: self.delete_entries([entry]))
        self.details.export.connect(lambda entry: self.export_entries([entry]))
        self.details.open_failed.connect(self.notices.error)
        if self.model is not None:
            self.model.rowsInserted.connect(lambda *_: self._update_count())
            self.model.rowsRemoved.connect(lambda *_: self._update_count())
            self.model.modelReset.connect(self._update_count)

    # ---- what is shown -------------------------------------------------------------------

    def apply_filters(self) -> None:
        if self.model is not None:
            self.model.set_filters(self.search.text().strip(), self.favorites_only.isChecked())
            self.details.show_entry(None)

    def add_beside_count(self, widget: QWidget) -> None:
        """A widget of another part under the images, beside their count (the X/Y grids)."""
        self._count_row.addWidget(widget)

    def focus_search(self) -> None:
        self.search.setFocus()
        self.search.selectAll()

    def _update_count(self) -> None:
        if self.model is None:
            self.count_label.setText("History is not available in this build.")
            return
        total = self.model.total
        filtered = bool(self.model.text or self.model.favorites)
        self.count_label.setText(
            f"{total} image{'s' if total != 1 else ''}" + (" match" if filtered else "")
            if total else ("Nothing matches." if filtered else
                           "No images yet: what you make is kept here."))

    def _show_details(self, row: int) -> None:
        entry = self.model.entry(row) if self.model is not None else None
        if entry is not None and not entry.complete:
            entry = self.store.get(entry.id) or entry
        pixmap = None
        if entry is not None:
            # One image at a time, on a click: cheap enough to read here.
            image = QImage(str(entry.path))
            if not image.isNull():
                pixmap = QPixmap.fromImage(image)
        self.details.show_entry(entry, pixmap)
        if pixmap is not None:
            self.image_chosen.emit(pixmap)

    def show_new(self, entry_ids: list) -> None:
        """A finished job's images, newest first, the first of them selected."""
        if self.model is None:
            return
        self.model.add_newest()
        if entry_ids:
            row = self.model.row_of(entry_ids[0])
            if row >= 0:
                self.view.setCurrentIndex(self.model.index(row))
                self.view.scrollTo(self.model.index(row))

    def open_viewer(self, row: int) -> None:
        from gui.viewer import ImageViewer
        model = self.model
        if model is None or model.entry(row) is None:
            return

        def entry_at(index: int):
            while index >= model.rowCount() and model.canFetchMore():
                model.fetchMore()
            entry = model.entry(index)
            return None if entry is None else (entry.path, entry.title)

        self.viewer = ImageViewer(lambda: model.total, entry_at, row, self.window())
        self.viewer.upscale_requested.connect(
            lambda at, repaint: model.entry(at) is not None
            and self.upscale_requested.emit(self.full_entry(model.entry(at)), repaint))
        self.viewer.show()

    # ---- the selected images -------------------------------------------------------------

    def selected_entries(self) -> list[Entry]:
        if self.model is None or self.view.selectionModel() is None:
            return []
        rows = sorted({index.row() for index in self.view.selectionModel().selectedIndexes()})
        return [e for e in (self.model.entry(row) for row in rows) if e is not None]

    def selected_entry(self) -> Optional[Entry]:
        """The selected image with its whole recipe."""
        return self.details.entry

    def full_entry(self, entry: Entry) -> Entry:
        """A gallery row with its whole recipe (rows are read without it)."""
        if entry.complete or self.store is None:
            return entry
        return self.store.get(entry.id) or entry

    def stored_path(self, entry_id) -> Optional[Path]:
        """Where the history keeps an image; None without a history, or once it is gone."""
        entry = self.store.get(entry_id) if self.store is not None else None
        return Path(entry.path) if entry is not None else None

    def show_context_menu(self, position) -> None:
        index = self.view.indexAt(position)
        if index.isValid() and not self.view.selectionModel().isSelected(index):
            self.view.setCurrentIndex(index)
        self.context_menu_shown = self.context_menu()
        self.context_menu_shown.popup(self.view.viewport().mapToGlobal(position))

    def context_menu(self) -> QMenu:
        entries = self.selected_entries()
        menu = QMenu(self.window())
        menu.setObjectName("galleryMenu")
        one = entries[0] if len(entries) == 1 else None
        many = f" {len(entries)} images" if len(entries) > 1 else ""

        def add(text: str, slot, enabled: bool = True, shortcut=None) -> QAction:
            action = menu.addAction(text, slot)
            action.setEnabled(enabled and bool(entries))
            if shortcut is not None:
                action.setShortcut(QKeySequence(shortcut))
            return action

        add("View", lambda: self.open_viewer(self.view.currentIndex().row()), one is not None)
        add("Reuse parameters", lambda: self.reuse_requested.emit(self.full_entry(one)), one is not None)
        add("Send to image to image", lambda: self.source_requested.emit(one.path, False), one is not None)
        add("Inpaint\u2026", lambda: self.source_requested.emit(one.path, True), one is not None)
        add("Upscale \u00d72", lambda: self.upscale_requested.emit(self.full_entry(one), False), one is not None)
        add("Upscale \u00d72 and repaint",
            lambda: self.upscale_requested.emit(self.full_entry(one), True), one is not None)
        menu.addSeparator()
        add("Copy image", lambda: self.copy_image(one), one is not None, QKeySequence.StandardKey.Copy)
        add("Copy prompt", lambda: QGuiApplication.clipboard().setText(one.request.prompt), one is not None)
        menu.addSeparator()
        all_favourite = bool(entries) and all(e.favorite for e in entries)
        add(("Remove from favorites" if all_favourite else "Add to favorites") + many,
            lambda: self.set_favorites(entries, not all_favourite))
        add(f"Export{many}\u2026", lambda: self.export_entries(entries))
        add("Show in folder", lambda: self.show_in_folder(one), one is not None)
        menu.addSeparator()
        delete = add(f"Delete{many}", lambda: self.delete_entries(entries),
                     shortcut=QKeySequence.StandardKey.Delete)
        delete.setObjectName("deleteAction")
        return menu

    def copy_selected_image(self) -> None:
        entries = self.selected_entries()
        if len(entries) == 1:
            self.copy_image(entries[0])

    def copy_image(self, entry: Entry) -> bool:
        image = QImage(str(entry.path))
        if image.isNull():
            self.notices.error("Cannot copy the image", f"{entry.path} cannot be read.")
            return False
        QGuiApplication.clipboard().setImage(image)
        self.notices.status("Image copied.", 3000)
        return True

    def show_in_folder(self, entry: Entry) -> None:
        if not desktop.show_in_folder(entry.path):
            self.notices.error("Cannot show the folder", f"No file manager opened {entry.path.parent}.")

    def set_favorite(self, entry: Entry, value: bool) -> None:
        self.set_favorites([entry], value)

    def set_favorites(self, entries: list[Entry], value: bool) -> None:
        for entry in entries:
            self.store.set_favorite(entry.id, value)
            self.model.refresh_entry(entry.id)
        self._show_details(self.view.currentIndex().row())

    def delete_entries(self, entries: list[Entry]) -> None:
        """Moves them to the trash; one Undo brings the whole group back."""
        if not entries:
            return
        for entry in entries:
            self.store.delete(entry.id)
            self.model.remove_entry(entry.id)
        self._undo.append(list(entries))
        self._show_details(self.view.currentIndex().row())
        what = f"\u201c{entries[0].title}\u201d" if len(entries) == 1 else f"{len(entries)} images"
        self.notices.banner.show_message("info", "", f"Deleted {what}.", "Undo", self.undo_delete)

    def undo_delete(self) -> None:
        if not self._undo:
            return
        group = self._undo.pop()
        for entry in group:
            self.store.undo_delete(entry.id)
        self.model.reload()
        self.notices.banner.hide()
        selection = self.view.selectionModel()
        selection.clearSelection()
        for entry in group:
            row = self.model.row_of(entry.id)
            if row >= 0:
                selection.select(self.model.index(row), selection.SelectionFlag.Select)
        rows = [self.model.row_of(e.id) for e in group if self.model.row_of(e.id) >= 0]
        if rows:
            selection.setCurrentIndex(self.model.index(rows[0]), selection.SelectionFlag.NoUpdate)

    def export_entries(self, entries: list[Entry], folder: Optional[Path] = None) -> list[Path]:
        if not entries:
            return []
        if folder is None:
            chosen = QFileDialog.getExistingDirectory(self.window(), "Export to folder",
                                                      start_folder(self.settings))
            if not chosen:
                return []
            folder = Path(chosen)
            remember_folder(self.settings, folder)
        try:
            paths = self.store.export([e.id for e in entries], folder)
        except OSError as error:
            self.notices.error("Export failed", str(error))
            return []
        self.notices.status(f"Exported to {folder}", 5000)
        return paths

    def shutdown(self) -> None:
        """For closing the window: no thumbnail is being made, and the history is closed."""
        self.thumbs.shutdown()
        closer = getattr(self.store, "close", None)
        if closer is not None:
            closer()
