"""The gallery: paging through a large history, thumbnails off the GUI thread, search, details."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent, QGuiApplication
from PIL import Image, PngImagePlugin

from engine.events import GeneratedImage, GenerationResult
from engine.pngmeta import save_png
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


def test_search_and_favorites_filter_the_gallery(qtbot, window, history, tmp_path):
    path = _png(tmp_path / "x.png")
    for prompt in ("a red fox", "an owl at night", "fox in snow"):
        history.add_entry(GenerationRequest(prompt=prompt), path)
    window.gallery.model.reload()
    assert window.gallery.model.rowCount() == 3
    window.gallery.search.setText("fox")
    qtbot.waitUntil(lambda: window.gallery.model.rowCount() == 2, timeout=3000)
    assert "2 images match" == window.gallery.count_label.text()

    window.gallery.view.setCurrentIndex(window.gallery.model.index(0))
    assert window.gallery.details.entry.request.prompt == "fox in snow"  # newest first
    qtbot.mouseClick(window.gallery.details.favorite_button, Qt.MouseButton.LeftButton)
    window.gallery.favorites_only.setChecked(True)
    assert window.gallery.model.rowCount() == 1
    assert window.gallery.model.entry(0).request.prompt == "fox in snow"
    window.gallery.search.clear()
    window.gallery.favorites_only.setChecked(False)
    qtbot.waitUntil(lambda: window.gallery.model.rowCount() == 3, timeout=3000)


def test_delete_then_undo_brings_the_image_back(qtbot, window, history, tmp_path):
    path = _png(tmp_path / "x.png")
    for prompt in ("keep me", "delete me"):
        history.add_entry(GenerationRequest(prompt=prompt), path)
    window.gallery.model.reload()
    window.gallery.view.setCurrentIndex(window.gallery.model.index(0))
    assert window.gallery.details.entry.request.prompt == "delete me"
    qtbot.mouseClick(window.gallery.details.delete_button, Qt.MouseButton.LeftButton)
    assert history.count() == 1 and window.gallery.model.rowCount() == 1
    assert window.banner.isVisible() and window.banner.button.text() == "Undo"
    qtbot.mouseClick(window.banner.button, Qt.MouseButton.LeftButton)
    assert history.count() == 2 and window.gallery.model.rowCount() == 2
    assert window.gallery.details.entry.request.prompt == "delete me"


def test_reuse_parameters_fills_the_form_seed_included(qtbot, window, history, tmp_path):
    request = GenerationRequest(prompt="a lighthouse at dusk", negative_prompt="blurry",
                                seed=3_000_000_000, steps=33, guidance=9.5, width=768,
                                height=512, model="sd-v1.4")
    history.add_entry(request, _png(tmp_path / "x.png"))
    window.gallery.model.reload()
    window.form.prompt.setPlainText("something else")
    window.gallery.view.setCurrentIndex(window.gallery.model.index(0))
    qtbot.mouseClick(window.gallery.details.reuse_button, Qt.MouseButton.LeftButton)
    got = window.form.request()
    assert (got.prompt, got.negative_prompt, got.seed, got.steps, got.guidance, got.width,
            got.height, got.model) == ("a lighthouse at dusk", "blurry", 3_000_000_000, 33, 9.5,
                                       768, 512, "sd-v1.4")
    assert window.form.seed.locked
    assert window.form.size_preset.currentText().startswith("Landscape 768")


def test_export_copies_the_png_with_its_metadata(qtbot, engine, settings, tmp_path):
    """Through the store the app uses (engine.history behind gui.history.StoreAdapter)."""
    from engine import history as history_module
    from gui.history import StoreAdapter
    from gui.mainwindow import MainWindow
    from tests.gui.fakes import fake_services
    services = fake_services(engine, None)
    services.history_factory = lambda: StoreAdapter.open(history_module, tmp_path / "history")
    window = MainWindow(services, settings)
    qtbot.addWidget(window)
    window.show()
    window.form.prompt.setPlainText("export me")
    window.form.set_size(128, 128)
    window.form.steps.setValue(1)
    with qtbot.waitSignal(window.progress.job_over, timeout=5000):
        window.generation.generate()
    qtbot.waitUntil(lambda: window.gallery.details.entry is not None, timeout=3000)
    out = tmp_path / "out"
    out.mkdir()
    paths = window.gallery.export_entries([window.gallery.details.entry], out)
    assert len(paths) == 1 and paths[0].parent == out
    with Image.open(paths[0]) as image:
        assert image.text["parameters"].startswith("export me")
    assert window.gallery.export_entries([window.gallery.details.entry], out)[0] != paths[0]  # never overwrites
    window.close()


def _drop(window, path, target=None):
    """A drop arriving at `target`, through the window's event filter as Qt delivers it.

    The prompt box is the default target: it takes text drops itself, so this also
    proves a PNG dropped there is read, not pasted as a URL. (Qt ignores a synthetic
    Drop sent with sendEvent when no drag is in progress, hence the direct call.)
    """
    target = target or window.form.prompt.viewport()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    assert window.drops.eventFilter(target, event)
    assert event.isAccepted()
    assert window.form.prompt.toPlainText() != path.as_uri()


def test_dropping_an_a1111_png_fills_the_form(qtbot, window, tmp_path):
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a castle on a hill, sunset\nNegative prompt: fog\n"
                  "Steps: 30, Sampler: Euler a, CFG scale: 6, Seed: 4000000000, "
                  "Size: 512x768, Model: someone-elses-model")
    path = tmp_path / "a1111.png"
    Image.new("RGB", (512, 768)).save(path, pnginfo=info)
    _drop(window, path, target=window.gallery.view.viewport())
    got = window.form.request()
    assert (got.prompt, got.negative_prompt, got.steps, got.guidance, got.seed, got.width,
            got.height) == ("a castle on a hill, sunset", "fog", 30, 6.0, 4_000_000_000, 512, 768)
    assert window.banner.isVisible() and "someone-elses-model" in window.banner.text.text()
    assert window.form.model_id() in ("demo", "sd-v1.4")  # kept: that model is not ours


def test_dropping_our_own_png_restores_the_exact_request(qtbot, window, tmp_path):
    request = GenerationRequest(prompt="line one\nline two", seed=7, steps=12, guidance=4.25,
                                width=256, height=256, model="sd-v1.4", mixed_precision=True)
    path = save_png(tmp_path / "ours.png", np.zeros((256, 256, 3), np.uint8), request, 7, "sd-v1.4")
    _drop(window, path)
    assert window.form.request() == request


def test_dropping_a_png_without_metadata_says_so(qtbot, window, tmp_path):
    before = window.form.request()
    _drop(window, _png(tmp_path / "plain.png"))
    assert window.form.request() == before
    assert window.banner.isVisible()
    assert "carries no generation parameters" in window.banner.text.text()


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


def test_favourites_show_a_star_on_their_thumbnail(qtbot, window, history, tmp_path):
    """Issue 31: favourites had no star in the grid."""
    from PIL import Image as PILImage
    from engine.request import GenerationRequest
    from gui.gallery import EntryRole
    for i in range(2):
        path = tmp_path / f"p{i}.png"
        PILImage.new("RGB", (64, 64), (30, 60, 200)).save(path)
        history.add_entry(GenerationRequest(prompt=f"p{i}", seed=i), path, created=1_700_000_000 + i)
    window.gallery.model.reload()
    view = window.gallery.view
    favourite = window.gallery.model.index(0)
    history.set_favorite(favourite.data(EntryRole).id, True)
    window.gallery.model.refresh_entry(favourite.data(EntryRole).id)
    qtbot.waitUntil(lambda: window.gallery.model.index(0).data(EntryRole).favorite, timeout=3000)

    def gold_pixels(index) -> int:
        shot = view.viewport().grab(view.visualRect(index)).toImage()
        return sum(1 for x in range(shot.width()) for y in range(shot.height())
                   if shot.pixelColor(x, y).red() > 200 and shot.pixelColor(x, y).green() > 160
                   and shot.pixelColor(x, y).blue() < 90)

    qtbot.waitUntil(lambda: gold_pixels(window.gallery.model.index(0)) > 5, timeout=3000)
    assert gold_pixels(window.gallery.model.index(1)) == 0
