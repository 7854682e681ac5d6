"""The gallery panel: search and favourites, the big view, the full-size viewer, the
details, the context menu, multi-select with one undo, reuse, export, dragging out."""
from __future__ import annotations

from PIL import Image
from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtGui import QGuiApplication

from engine.request import GenerationRequest
from gui.viewer import ZOOM_STEP
from tests.gui.test_gallery import _png


def _fill(window, history, tmp_path, n=4):
    for i in range(n):
        path = tmp_path / f"img{i}.png"
        Image.new("RGB", (64 + 16 * i, 64), (40 * i, 120, 200)).save(path)
        history.add_entry(GenerationRequest(prompt=f"picture {i}", seed=i), path,
                          created=1_700_000_000 + i)
    window.gallery.model.reload()


def _select(window, *rows):
    selection = window.gallery.view.selectionModel()
    selection.clearSelection()
    for row in rows:
        selection.select(window.gallery.model.index(row), QItemSelectionModel.SelectionFlag.Select)
    selection.setCurrentIndex(window.gallery.model.index(rows[0]), QItemSelectionModel.SelectionFlag.NoUpdate)


def test_selecting_an_image_shows_it_in_the_big_view_with_its_recipe(qtbot, window, history, tmp_path):
    _fill(window, history, tmp_path)
    assert window.progress.preview.current() is None
    window.gallery.view.setCurrentIndex(window.gallery.model.index(1))
    shown = window.progress.preview.current()
    assert shown is not None and (shown.width(), shown.height()) == (64 + 16 * 2, 64)  # newest first
    assert window.gallery.details.entry.request.prompt == "picture 2"
    assert "picture 2" in window.gallery.details.info.toPlainText()


def test_double_click_opens_a_viewer_that_zooms_fits_and_steps_through(qtbot, window, history, tmp_path):
    _fill(window, history, tmp_path)
    index = window.gallery.model.index(0)
    window.gallery.view.doubleClicked.emit(index)
    viewer = window.gallery.viewer
    qtbot.addWidget(viewer)
    assert viewer.isVisible() and "1 of 4" in viewer.windowTitle()
    assert viewer.pixmap.width() == 64 + 16 * 3
    assert not viewer.previous_button.isEnabled()
    viewer.set_zoom(2.0)
    assert viewer.image.pixmap().width() == 2 * (64 + 16 * 3)
    viewer.fit_to_window()
    room = viewer.scroll.viewport().size()
    assert viewer.image.pixmap().width() <= room.width() and viewer.zoom > 2
    viewer.step(1)
    assert "2 of 4" in viewer.windowTitle() and viewer.pixmap.width() == 64 + 16 * 2
    viewer.step(10)  # past the end: stays
    assert viewer.row == 1
    viewer.show_row(3)
    assert not viewer.next_button.isEnabled()
    viewer.close()


def test_a_damaged_image_in_the_viewer_says_so(qtbot, window, history, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    history.add_entry(GenerationRequest(prompt="broken"), bad)
    window.gallery.model.reload()
    window.gallery.open_viewer(0)
    qtbot.addWidget(window.gallery.viewer)
    assert "cannot be read" in window.gallery.viewer.image.text()
    window.gallery.viewer.close()


def test_the_context_menu_offers_every_action_and_they_work(qtbot, window, history, tmp_path):
    _fill(window, history, tmp_path)
    _select(window, 0)
    menu = window.gallery.context_menu()
    texts = [a.text() for a in menu.actions() if not a.isSeparator()]
    assert texts == ["View", "Reuse parameters", "Send to image to image", "Inpaint\u2026",
                     "Upscale \u00d72", "Upscale \u00d72 and repaint", "Copy image", "Copy prompt", "Add to favorites",
                     "Export\u2026", "Show in folder", "Delete"]
    actions = {a.text(): a for a in menu.actions()}
    actions["Copy prompt"].trigger()
    assert QGuiApplication.clipboard().text() == "picture 3"
    actions["Copy image"].trigger()
    assert QGuiApplication.clipboard().image().width() == 64 + 16 * 3
    actions["Add to favorites"].trigger()
    assert history.get(window.gallery.model.entry(0).id).favorite
    window.form.prompt.setPlainText("something else")
    actions["Reuse parameters"].trigger()
    assert window.form.request().prompt == "picture 3" and window.form.request().seed == 3
    assert "Remove from favorites" in [a.text() for a in window.gallery.context_menu().actions()]


def test_multi_select_delete_is_undone_in_one_step(qtbot, window, history, tmp_path):
    _fill(window, history, tmp_path)
    _select(window, 0, 2, 3)
    assert [e.request.prompt for e in window.gallery.selected_entries()] == ["picture 3", "picture 1", "picture 0"]
    menu = window.gallery.context_menu()
    delete = next(a for a in menu.actions() if a.objectName() == "deleteAction")
    assert delete.text() == "Delete 3 images"
    delete.trigger()
    assert history.count() == 1 and window.gallery.model.rowCount() == 1
    assert "Deleted 3 images" in window.banner.text.text()
    window.gallery.undo_delete()
    assert history.count() == 4 and window.gallery.model.rowCount() == 4
    assert sorted(e.request.prompt for e in window.gallery.selected_entries()) == [
        "picture 0", "picture 1", "picture 3"]


def test_multi_select_favourite_and_export(qtbot, window, history, tmp_path):
    _fill(window, history, tmp_path)
    _select(window, 1, 2)
    window.gallery.set_favorites(window.gallery.selected_entries(), True)
    assert [history.get(window.gallery.model.entry(r).id).favorite for r in range(4)] == [False, True, True, False]
    out = tmp_path / "out"
    out.mkdir()
    paths = window.gallery.export_entries(window.gallery.selected_entries(), out)
    assert sorted(p.name for p in paths) == ["img1.png", "img2.png"]


def test_images_drag_out_as_files(qtbot, window, history, tmp_path):
    _fill(window, history, tmp_path)
    mime = window.gallery.model.mimeData([window.gallery.model.index(0), window.gallery.model.index(1)])
    assert [u.toLocalFile() for u in mime.urls()] == [str(tmp_path / "img3.png"), str(tmp_path / "img2.png")]
    assert window.gallery.model.flags(window.gallery.model.index(0)) & Qt.ItemFlag.ItemIsDragEnabled


def test_when_show_in_folder_fails_the_window_says_so(qtbot, window, history, tmp_path, monkeypatch):
    _fill(window, history, tmp_path, n=1)
    window.gallery.view.setCurrentIndex(window.gallery.model.index(0))
    import gui.desktop
    monkeypatch.setattr(gui.desktop, "show_in_folder", lambda path: False)
    window.gallery.details.folder_button.click()
    assert window.banner.isVisible() and window.banner.kind == "error"
    assert "Cannot show the folder" in window.banner.title.text()


def test_the_viewer_zooms_with_the_bare_plus_and_minus_keys_help_lists(qtbot, window, history, tmp_path):
    """Issue 31: + and - did nothing; only Ctrl+plus and Ctrl+minus zoomed."""
    from PySide6.QtCore import Qt
    _fill(window, history, tmp_path)
    window.gallery.open_viewer(0)
    viewer = window.gallery.viewer
    qtbot.addWidget(viewer)
    viewer.set_zoom(1.0)
    for key, factor in ((Qt.Key.Key_Plus, 1), (Qt.Key.Key_Equal, 2), (Qt.Key.Key_Minus, 1)):
        qtbot.keyClick(viewer, key)
        assert abs(viewer.zoom - ZOOM_STEP ** factor) < 1e-9, key
    viewer.close()


def test_the_details_say_an_image_came_from_image_to_image_and_how(qtbot, window, history, tmp_path):
    """Issue 31: the details did not say an image came from image to image, or at what strength."""
    from engine.request import Source
    path = tmp_path / "made.png"
    Image.new("RGB", (64, 64), (10, 20, 30)).save(path)
    source = Source("ab" * 32, strength=0.6, mask="cd" * 32, mask_blur=8, outpaint=(64, 0, 0, 0))
    history.add_entry(GenerationRequest(prompt="repainted", seed=3, source=source), path,
                      created=1_700_000_000)
    window.gallery.model.reload()
    window.gallery.view.setCurrentIndex(window.gallery.model.index(0))
    text = window.gallery.details.info.toPlainText()
    assert "Image to image \u00b7 strength 0.6" in text
    assert "inpainted (mask blur 8 px)" in text and "outpainted 64, 0, 0, 0 px" in text


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
