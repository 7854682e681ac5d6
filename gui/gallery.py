"""The history gallery: rows paged in from the store, thumbnails made off the GUI thread,
and the grid that shows them.

Only the rows a person scrolls to are read (canFetchMore/fetchMore), and only
the thumbnails the view asks for are decoded, newest request first, so a
history of 10,000 images costs what one screenful costs.
"""
from __future__ import annotations

import itertools
from collections import OrderedDict
from pathlib import Path
from typing import Any, Optional

from PySide6.QtCore import (QAbstractListModel, QMimeData, QModelIndex, QObject, QRect, QRunnable,
                            QSize, Qt, QUrl, Signal)
from PySide6.QtGui import QColor, QIcon, QImage, QImageReader, QPainter, QPixmap
from PySide6.QtWidgets import QListView, QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from gui.history import Entry, HistoryView
from gui.theme import COLOURS, current_scheme
from gui.threads import managed_pool

THUMB_SIZE = 160
PAGE_SIZE = 200
EntryRole = Qt.ItemDataRole.UserRole + 1


class _Relay(QObject):
    # Emitted from pool threads; the receiver lives on the GUI thread, so delivery is queued.
    done = Signal(object, QImage)


class _ThumbJob(QRunnable):
    def __init__(self, key, path: Path, size: int, relay: _Relay) -> None:
        super().__init__()
        self.key, self.path, self.size, self.relay = key, path, size, relay

    def run(self) -> None:
        reader = QImageReader(str(self.path))
        full = reader.size()
        if full.isValid() and (full.width() > self.size or full.height() > self.size):
            # Decoding at the small size is far cheaper than decoding whole and scaling.
            reader.setScaledSize(full.scaled(self.size, self.size,
                                             Qt.AspectRatioMode.KeepAspectRatio))
        image = reader.read()
        self.relay.done.emit(self.key, image)


class ThumbnailLoader(QObject):
    """An LRU of QPixmaps made on the GUI thread from QImages decoded on a private pool."""

    loaded = Signal(object)  # key

    def __init__(self, size: int = THUMB_SIZE, capacity: int = 3000, max_pending: int = 96,
                 parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self.size = size
        self.capacity = capacity
        self.max_pending = max_pending
        self.pool = managed_pool("thumbnails", 2)
        self._cache: OrderedDict[Any, QPixmap] = OrderedDict()
        # key -> job not yet reported back, oldest request first.
        self._pending: OrderedDict[Any, _ThumbJob] = OrderedDict()
        self._priority = itertools.count()
        self._relay = _Relay()
        self._relay.done.connect(self._on_done)
        self.decoded = 0  # how many images were decoded, for tests and the probe
        self._closed = False

    def cached(self, key) -> Optional[QPixmap]:
        pixmap = self._cache.get(key)
        if pixmap is not None:
            self._cache.move_to_end(key)
        return pixmap

    def request(self, key, path: Path) -> Optional[QPixmap]:
        pixmap = self.cached(key)
        if pixmap is not None or key in self._pending or self._closed:
            return pixmap
        while len(self._pending) >= self.max_pending:
            # Fast scrolling: the oldest requests are for rows long gone from the screen.
            # Drop them if they have not started; the view asks again if they come back.
            old_key, old_job = next(iter(self._pending.items()))
            if not self.pool.tryTake(old_job):
                break  # already running: it is nearly done anyway
            del self._pending[old_key]
        job = _ThumbJob(key, Path(path), self.size, self._relay)
        job.setAutoDelete(False)  # we hold it in _pending, so tryTake() stays safe
        self._pending[key] = job
        # Later requests first: what the view asks for last is what is on screen now.
        self.pool.start(job, min(next(self._priority), 2**30))
        return None

    def forget(self, key) -> None:
        self._cache.pop(key, None)

    def _on_done(self, key, image: QImage) -> None:
        self._pending.pop(key, None)
        self.decoded += 1
        if image.isNull():
            image = QImage(self.size, self.size, QImage.Format.Format_RGB32)
            image.fill(QColor("#55343a"))
        self._cache[key] = QPixmap.fromImage(image)
        while len(self._cache) > self.capacity:
            self._cache.popitem(last=False)
        self.loaded.emit(key)

    def idle(self) -> bool:
        return not self._pending

    def shutdown(self) -> None:
        self._closed = True
        self.pool.clear()
        self.pool.waitForDone()
        self._pending.clear()


STAR, STAR_COLOUR = "\u2605", "#f5c518"


def badge_colours(scheme: str) -> tuple[str, str]:
    """(fill, text) of the mark on an image an API client queued: the theme's accent
    button, whose text passes 4.5:1 on its fill in both themes (tests/gui/test_gallery_origin.py)."""
    colours = COLOURS[scheme]
    return colours["accent_bg"], colours["accent_text"]


class UntintedThumbnails(QStyledItemDelegate):
    """Draws a selected thumbnail with its own colours: Qt's styles otherwise blend a
    selected icon with the highlight colour, which changed the image's colours. The
    selection shows as a frame instead (the stylesheet's ::item:selected). A favourite
    gets a star in its corner; an image an API client queued, a badge ("API") in the other."""

    def initStyleOption(self, option, index) -> None:
        super().initStyleOption(option, index)
        if option.state & QStyle.StateFlag.State_Selected and not option.icon.isNull():
            pixmap = option.icon.pixmap(option.decorationSize)
            icon = QIcon(pixmap)
            icon.addPixmap(pixmap, QIcon.Mode.Selected)
            option.icon = icon

    def paint(self, painter: QPainter, option, index) -> None:
        super().paint(painter, option, index)
        entry = index.data(EntryRole)
        if entry is not None and (entry.favorite or entry.origin_mark):
            styled = QStyleOptionViewItem(option)
            self.initStyleOption(styled, index)
            widget = option.widget
            style = widget.style() if widget is not None else None
            thumb = style.subElementRect(QStyle.SubElement.SE_ItemViewItemDecoration, styled, widget) \
                if style is not None else option.rect
            if entry.favorite:  # a favourite shows it in the grid too
                self.paint_star(painter, thumb)
            if entry.origin_mark:
                self.paint_badge(painter, thumb, entry.origin_mark)

    @staticmethod
    def paint_badge(painter: QPainter, cell, text: str) -> None:
        """`text` on an opaque rounded tag in the thumbnail's top left: readable on any image."""
        fill, ink = badge_colours(current_scheme())
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        font = painter.font()
        font.setPixelSize(max(11, cell.height() // 12))
        font.setBold(True)
        painter.setFont(font)
        metrics = painter.fontMetrics()
        tag = QRect(cell.left() + 3, cell.top() + 3, metrics.horizontalAdvance(text) + 8,
                    metrics.height() + 2)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(fill))
        painter.drawRoundedRect(tag, 3, 3)
        painter.setPen(QColor(ink))
        painter.drawText(tag, Qt.AlignmentFlag.AlignCenter, text)
        painter.restore()

    @staticmethod
    def paint_star(painter: QPainter, cell) -> None:
        painter.save()
        font = painter.font()
        font.setPixelSize(max(16, cell.height() // 5))
        painter.setFont(font)
        corner = cell.adjusted(0, 2, -4, 0)  # inside the thumbnail's top right
        painter.setPen(QColor(0, 0, 0, 160))  # a shadow keeps it visible on light images
        painter.drawText(corner.translated(1, 1), Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignRight,
                         STAR)
        painter.setPen(QColor(STAR_COLOUR))
        painter.drawText(corner, Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignRight, STAR)
        painter.restore()


class GalleryGrid(QListView):
    """The thumbnails in a grid: many can be selected at once, and dragged out to other
    apps as files."""

    def __init__(self, thumb_size: int, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setObjectName("gallery")
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setUniformItemSizes(True)  # lets the view skip measuring 10,000 rows
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(200)
        self.setIconSize(QSize(thumb_size, thumb_size))
        self.setGridSize(QSize(thumb_size + 16, thumb_size + 36))
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.setSelectionMode(QListView.SelectionMode.ExtendedSelection)
        self.setDragEnabled(True)
        self.setDragDropMode(QListView.DragDropMode.DragOnly)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.setItemDelegate(UntintedThumbnails(self))


def _placeholder(size: int) -> QPixmap:
    pixmap = QPixmap(size, size)
    pixmap.fill(QColor("#2b2f36"))
    painter = QPainter(pixmap)
    painter.setPen(QColor("#5c6370"))
    painter.drawRect(0, 0, size - 1, size - 1)
    painter.end()
    return pixmap


class GalleryModel(QAbstractListModel):
    """Newest first; `text` is the store's full-text search, `favorites` its filter."""

    def __init__(self, store: HistoryView, thumbs: ThumbnailLoader,
                 parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self.store = store
        self.thumbs = thumbs
        self.text = ""
        self.favorites = False
        self._rows: list[Entry] = []
        self._total = 0
        self._row_of: dict[Any, int] = {}
        self._placeholder = _placeholder(thumbs.size)
        thumbs.loaded.connect(self._on_thumb)
        self.reload()

    # ---- Qt model API ----------------------------------------------------------------

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def canFetchMore(self, parent: QModelIndex = QModelIndex()) -> bool:
        return not parent.isValid() and len(self._rows) < self._total

    def fetchMore(self, parent: QModelIndex = QModelIndex()) -> None:
        if parent.isValid():
            return
        start = len(self._rows)
        page = self.store.page(start, PAGE_SIZE, self.text, self.favorites)
        if not page:
            self._total = start
            return
        self.beginInsertRows(QModelIndex(), start, start + len(page) - 1)
        self._rows.extend(page)
        self._reindex(start)
        self.endInsertRows()

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        entry = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return entry.title
        if role == Qt.ItemDataRole.DecorationRole:
            pixmap = self.thumbs.request(entry.id, entry.thumbnail or entry.path)
            return pixmap if pixmap is not None else self._placeholder
        if role == Qt.ItemDataRole.ToolTipRole:
            tip = entry.parameters or entry.request.prompt
            return f"{entry.queued_by}\n{tip}" if entry.origin_mark else tip
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return f"{entry.title} ({entry.queued_by})" if entry.origin_mark else entry.title
        if role == EntryRole:
            return entry
        return None

    def flags(self, index: QModelIndex) -> Qt.ItemFlag:
        flags = super().flags(index)
        return flags | Qt.ItemFlag.ItemIsDragEnabled if index.isValid() else flags

    def mimeTypes(self) -> list[str]:
        return ["text/uri-list"]

    def mimeData(self, indexes) -> QMimeData:
        """The PNG files themselves, so other apps (and this window) take them as images."""
        mime = QMimeData()
        entries = [self.entry(i.row()) for i in indexes if i.isValid()]
        mime.setUrls([QUrl.fromLocalFile(str(e.path)) for e in entries if e is not None])
        return mime

    # ---- changes -----------------------------------------------------------------------

    @property
    def total(self) -> int:
        return self._total

    def entry(self, row: int) -> Optional[Entry]:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def row_of(self, entry_id) -> int:
        return self._row_of.get(entry_id, -1)

    def set_filters(self, text: str, favorites: bool) -> None:
        if (text, favorites) != (self.text, self.favorites):
            self.text, self.favorites = text, favorites
            self.reload()

    def reload(self) -> None:
        self.beginResetModel()
        self._total = self.store.count(self.text, self.favorites)
        self._rows = self.store.page(0, PAGE_SIZE, self.text, self.favorites) if self._total else []
        self._reindex(0)
        self.endResetModel()

    def add_newest(self) -> int:
        """Rows that appeared at the top since the last look; keeps the loaded ones as they are."""
        total = self.store.count(self.text, self.favorites)
        new = total - self._total
        if new <= 0:
            return 0
        fresh = self.store.page(0, new, self.text, self.favorites)
        known = set(self._row_of)
        fresh = [e for e in fresh if e.id not in known]
        if not fresh:
            self._total = total
            return 0
        self.beginInsertRows(QModelIndex(), 0, len(fresh) - 1)
        self._rows[0:0] = fresh
        self._total = total
        self._reindex(0)
        self.endInsertRows()
        return len(fresh)

    def refresh_entry(self, entry_id) -> None:
        row = self.row_of(entry_id)
        if row < 0:
            return
        entry = self.store.get(entry_id)
        if entry is None or (self.favorites and not entry.favorite):
            self.remove_entry(entry_id)
            return
        self._rows[row] = entry
        index = self.index(row)
        self.dataChanged.emit(index, index)

    def remove_entry(self, entry_id) -> None:
        row = self.row_of(entry_id)
        if row < 0:
            return
        self.beginRemoveRows(QModelIndex(), row, row)
        del self._rows[row]
        self._row_of.pop(entry_id, None)
        self._total -= 1
        self._reindex(row)
        self.endRemoveRows()
        self.thumbs.forget(entry_id)

    def _reindex(self, start: int) -> None:
        if start == 0:
            self._row_of = {}
        for i in range(start, len(self._rows)):
            self._row_of[self._rows[i].id] = i

    def _on_thumb(self, key) -> None:
        row = self._row_of.get(key, -1)
        if row >= 0:
            index = self.index(row)
            self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])
