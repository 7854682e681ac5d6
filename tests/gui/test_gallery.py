"""The gallery's model (gui/gallery.py): paging through a large history, thumbnails off the
GUI thread, the real history store behind it."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from PySide6.QtGui import QGuiApplication
from PIL import Image

from engine.events import GeneratedImage, GenerationResult
from engine.request import GenerationRequest
from gui.gallery import PAGE_SIZE, GalleryModel, ThumbnailLoader
from tests.gui.fakes import FakeHistory


def _png(path, colour=(200, 30, 30), size=64):
    Image.new("RGB", (size, size), colour).save(path)
    return path


@pytest.fixture
def big_history(tmp_path):
    """10,000 rows; they share a few image files, as paging and thumbnails are what is measured."""
    history = FakeHistory(tmp_path / "big")
    files = [_png(tmp_path / f"img{i}.png", (i * 60, 80, 200 - i * 40)) for i in range(4)]
    for i in range(10_000):
        word = "fox" if i % 10 == 0 else "owl"
        history.add_entry(GenerationRequest(prompt=f"{word} number {i}", seed=i),
                          files[i % 4], created=1_700_000_000 + i)
    return history


def test_ten_thousand_rows_page_in_as_the_view_scrolls(qtbot, big_history):
    thumbs = ThumbnailLoader()
    model = GalleryModel(big_history, thumbs)
    from PySide6.QtWidgets import QListView
    view = QListView()
    qtbot.addWidget(view)
    view.setViewMode(QListView.ViewMode.IconMode)
    view.setUniformItemSizes(True)
    view.setModel(model)
    view.resize(600, 500)
    view.show()
    try:
        assert model.total == 10_000
        assert model.rowCount() == PAGE_SIZE
        # Newest first.
        assert model.entry(0).request.prompt == "owl number 9999"
        assert model.entry(0).created > model.entry(1).created

        started = time.perf_counter()
        while model.canFetchMore():
            view.scrollToBottom()
            QGuiApplication.processEvents()
        elapsed = time.perf_counter() - started
        assert model.rowCount() == 10_000
        # Pages of PAGE_SIZE, never the whole table at once.
        assert max(limit for _, limit in big_history.page_calls) == PAGE_SIZE
        assert elapsed < 10, f"paging through 10,000 rows took {elapsed:.1f} s"

        # Only rows that were on screen at some moment get decoded, never the whole history.
        qtbot.waitUntil(thumbs.idle, timeout=5000)
        assert 0 < thumbs.decoded < 1000
        row = view.indexAt(view.viewport().rect().center()).row()
        assert thumbs.cached(model.entry(row).id) is not None
    finally:
        thumbs.shutdown()


def test_thumbnails_are_decoded_off_the_gui_thread(qtbot, tmp_path, monkeypatch):
    from gui import gallery
    threads = set()
    real_run = gallery._ThumbJob.run

    def spy(self):
        threads.add(threading.get_ident())
        real_run(self)
    monkeypatch.setattr(gallery._ThumbJob, "run", spy)
    thumbs = ThumbnailLoader(size=32)
    try:
        path = _png(tmp_path / "a.png", size=128)
        assert thumbs.request("a", path) is None  # nothing blocks: the caller gets a placeholder
        qtbot.waitSignal(thumbs.loaded, timeout=5000).wait()
        pixmap = thumbs.cached("a")
        assert pixmap is not None and max(pixmap.width(), pixmap.height()) == 32
        assert threads and threading.get_ident() not in threads
    finally:
        thumbs.shutdown()


def test_real_history_store_through_the_adapter(qtbot, tmp_path):
    from engine.history import HistoryStore
    from gui.history import StoreAdapter

    store = StoreAdapter(HistoryStore(tmp_path / "h"))
    try:
        for i, prompt in enumerate(("a red fox", "an owl", "fox cub")):
            request = GenerationRequest(prompt=prompt, seed=10 + i, width=128, height=128,
                                        model="sd-v1.4", batch=1)
            image = GeneratedImage(np.full((128, 128, 3), 40 * i, np.uint8), 10 + i)
            ids = store.add_result(GenerationResult(request, [image], "sd-v1.4", "CPU"))
            assert len(ids) == 1
        assert store.count() == 3 and store.count("fox") == 2
        rows = store.page(0, 10)
        assert [e.request.prompt for e in rows] == ["fox cub", "an owl", "a red fox"]
        assert not rows[0].complete
        full = store.get(rows[0].id)
        assert full.complete and full.request.seed == 12 and "Seed: 12" in full.parameters
        store.set_favorite(rows[1].id, True)
        assert [e.id for e in store.page(0, 10, favorites=True)] == [rows[1].id]
        store.delete(rows[0].id)
        assert store.count() == 2
        store.undo_delete(rows[0].id)
        assert store.count() == 3
        out = store.export([rows[0].id], tmp_path / "export")
        assert out[0].is_file()
    finally:
        store.close()
