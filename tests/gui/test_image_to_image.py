"""Image to image in the window: the source panel, the painted mask on its way to the
request, the gallery's "Send to image to image" and "Inpaint", and every bad image told
in one message (dropped images: test_image_drops.py)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from engine.img2img.prepare import load_pixels
from engine.request import GenerationRequest, Source
from tests.gui.test_mask_editor import drag


def _image(path, size=(200, 136), colour=(20, 140, 60)):
    pixels = np.zeros((size[1], size[0], 3), np.uint8)
    pixels[:] = colour
    pixels[:, : size[0] // 2, 0] = 200  # two halves, so a flipped or shifted image shows
    Image.fromarray(pixels).save(path)
    return path


def _grown(mask: np.ndarray, pixels: int) -> np.ndarray:
    """The mask and everything within `pixels` of it (a square neighbourhood)."""
    padded = np.pad(mask, pixels)
    out = np.zeros_like(mask)
    for dy in range(2 * pixels + 1):
        for dx in range(2 * pixels + 1):
            out |= padded[dy:dy + mask.shape[0], dx:dx + mask.shape[1]]
    return out


def _opened(qtbot, window, path, **kwargs):
    panel = window.form.source_panel
    panel.open_file(path, **kwargs)
    qtbot.waitUntil(lambda: not panel.busy, timeout=10_000)
    return panel


def test_an_opened_image_sets_the_size_and_says_it_was_snapped(qtbot, window, services, tmp_path):
    window.form.prompt.setPlainText("a fox")
    panel = _opened(qtbot, window, _image(tmp_path / "photo.png", (200, 136)))
    assert panel.is_set and panel.controls.isVisible() and not panel.thumb.pixmap().isNull()
    request = window.form.request()
    assert (request.width, request.height) == (192, 128)
    assert not window.form.width_box.isEnabled() and not window.form.size_preset.isEnabled()
    assert "200x136" in panel.notes.text() and "192x128" in panel.notes.text()
    assert request.source is not None and request.source.strength == Source("").strength
    assert services.sources.find(request.source.image) is not None  # stored, by its hash
    assert window.generation.generate_button.isEnabled()

    window.form.source_panel.options.margins["right"].setValue(128)
    assert window.form.request().width == 192 + 128 and window.form.request().source.outpaint == (0, 0, 128, 0)
    panel.options.margins["right"].setValue(100)  # not a multiple of 64: the request's own check says so
    assert "multiple of 64" in panel.error.text() and not window.generation.generate_button.isEnabled()
    panel.options.margins["right"].setValue(960)  # no room left for the source on the largest canvas
    assert "smaller margins" in panel.error.text() and not window.generation.generate_button.isEnabled()
    panel.options.margins["right"].setValue(0)
    assert window.generation.generate_button.isEnabled()

    # Issue 31: beside "Paint mask…" the button said only "Clear", and took the whole image.
    assert panel.clear_button.text() == "Remove image"
    qtbot.mouseClick(panel.clear_button, Qt.MouseButton.LeftButton)
    assert window.form.request().source is None and window.form.width_box.isEnabled()


@pytest.mark.parametrize("content, words", [
    (b"not an image at all", "not an image Pillow can read"),
    (None, "damaged or truncated"),
])
def test_a_bad_image_file_gets_one_clear_message(qtbot, window, tmp_path, content, words):
    path = tmp_path / "bad.png"
    if content is None:  # a real PNG cut short
        _image(tmp_path / "whole.png", (256, 256))
        path.write_bytes((tmp_path / "whole.png").read_bytes()[:300])
    else:
        path.write_bytes(content)
    before = window.form.request()
    panel = _opened(qtbot, window, path)
    assert not panel.is_set and window.form.request() == before
    assert panel.error.isVisible() and words in panel.error.text()
    assert "Traceback" not in panel.error.text() and "bad.png" in panel.error.text()


def test_generate_sends_the_painted_mask_through_prepare(qtbot, window, engine, services, tmp_path):
    panel = _opened(qtbot, window, _image(tmp_path / "src.png", (128, 128)), edit_mask=True)
    assert panel.editor.isVisible()
    canvas = panel.editor.canvas
    panel.editor.brush_size.setValue(16)
    drag(qtbot, canvas, [(40, 64), (90, 64)])
    painted = canvas.mask()
    assert "masked" in panel.size_label.text()
    window.form.prompt.setPlainText("a red circle")
    window.form.steps.setValue(4)
    panel.options.strength.setValue(60)
    with qtbot.waitSignal(window.progress.job_over, timeout=10_000):
        window.generation.generate()
    sent = engine.requests[-1]
    assert (sent.width, sent.height) == (128, 128)
    assert sent.source.strength == 0.6 and sent.source.mask is not None
    image, mask = load_pixels(services.sources, sent.source)
    assert np.array_equal(mask, painted)
    assert image.shape == (128, 128, 3) and image[0, 0].tolist() == [200, 140, 60]


def test_send_to_image_to_image_and_inpaint_from_the_gallery(qtbot, window, history, tmp_path):
    history.add_entry(GenerationRequest(prompt="made before", seed=3, width=128, height=128),
                      _image(tmp_path / "made.png", (128, 128)))
    window.gallery.model.reload()
    window.gallery.view.setCurrentIndex(window.gallery.model.index(0))
    qtbot.mouseClick(window.gallery.details.img2img_button, Qt.MouseButton.LeftButton)
    panel = window.form.source_panel
    qtbot.waitUntil(lambda: panel.is_set and not panel.busy, timeout=10_000)
    assert not panel.editor.isVisible()
    panel.clear()
    inpaint = next(a for a in window.gallery.context_menu().actions() if a.text() == "Inpaint\u2026")
    inpaint.trigger()
    qtbot.waitUntil(lambda: panel.is_set and not panel.busy, timeout=10_000)
    assert panel.editor.isVisible() and panel.editor.canvas.image.width() == 128


def test_reuse_restores_the_source_from_the_store_or_says_it_is_gone(qtbot, window, history,
                                                                     services, tmp_path):
    from engine.img2img.prepare import prepare
    mask = np.zeros((128, 128), np.uint8)
    mask[:, 64:] = 255
    prepared = prepare(services.sources, _image(tmp_path / "src.png", (128, 128)), mask,
                       strength=0.4, mask_blur=9, outpaint=(64, 0, 0, 0))
    request = GenerationRequest(prompt="inpainted", seed=5, width=prepared.width,
                                height=prepared.height, source=prepared.source)
    history.add_entry(request, _image(tmp_path / "out.png", (192, 128)))
    window.gallery.model.reload()
    window.gallery.view.setCurrentIndex(window.gallery.model.index(0))
    qtbot.mouseClick(window.gallery.details.reuse_button, Qt.MouseButton.LeftButton)
    panel = window.form.source_panel
    qtbot.waitUntil(lambda: panel.is_set and not panel.busy, timeout=10_000)
    got = window.form.request()
    assert got.source == prepared.source and (got.width, got.height) == (192, 128)
    assert panel.options.strength_now() == 0.4 and panel.options.mask_blur.value() == 9
    assert np.array_equal(panel.editor.canvas.mask(), mask)

    panel.clear()
    services.sources.path(prepared.source.image).unlink()
    qtbot.mouseClick(window.gallery.details.reuse_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not panel.busy, timeout=10_000)
    assert not panel.is_set and window.form.request().prompt == "inpainted"
    assert "not in the history folder" in panel.notes.text()


def test_the_source_is_kept_with_the_form_and_dropped_quietly_when_gone(qtbot, services, settings,
                                                                        tmp_path):
    from gui.mainwindow import MainWindow

    def open_window():
        w = MainWindow(services, settings)
        qtbot.addWidget(w)
        w.show()
        return w
    first = open_window()
    panel = _opened(qtbot, first, _image(tmp_path / "src.png", (128, 128)))
    panel.editor.brush_size.setValue(10)
    drag(qtbot, panel.editor.canvas, [(10, 10), (50, 10)])
    painted = panel.editor.canvas.mask()
    panel.options.strength.setValue(30)
    first.close()
    saved = json.loads(settings.value("form/source"))
    assert len(saved["image"]) == 64 and saved["mask"] and saved["strength"] == 0.3

    second = open_window()
    panel = second.form.source_panel
    qtbot.waitUntil(lambda: panel.is_set and not panel.busy, timeout=10_000)
    assert np.array_equal(panel.editor.canvas.mask(), painted) and panel.options.strength_now() == 0.3
    second.close()

    services.sources.path(saved["image"]).unlink()
    third = open_window()
    panel = third.form.source_panel
    qtbot.waitUntil(lambda: not panel.busy, timeout=10_000)
    assert not panel.is_set and not panel.error.isVisible()
    assert "not in the history folder" in panel.notes.text()
    third.close()


@pytest.fixture
def demo_window(qtbot, settings, history, tmp_path):
    """The window on the real engine and the built-in demo model (TensorFlow loads)."""
    pytest.importorskip("engine.pipeline")
    from tests.gui.test_real_engine import _demo_ready
    if not _demo_ready():
        pytest.skip("the demo model's weights are not built")
    from gui.mainwindow import MainWindow
    from gui.services import make_engine
    from tests.gui.fakes import FakeEngine, fake_services
    services = fake_services(FakeEngine(), history)
    services.engine_factory = lambda: make_engine(sources=services.sources)
    w = MainWindow(services, settings)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: bool(w.engine_status.device), timeout=300_000)
    yield w
    w.close()


@pytest.mark.timeout(900)
def test_the_demo_model_repaints_only_the_painted_part(qtbot, demo_window, history, tmp_path):
    window = demo_window
    source = np.zeros((128, 128, 3), np.uint8)
    source[:] = (30, 150, 60)
    source[:, :64, 2] = 120  # two halves, so any change to the kept part shows
    Image.fromarray(source).save(tmp_path / "src.png")
    window.model_chooser.select("demo")
    window.form.prompt.setPlainText("a big red circle in the middle, blue background")
    window.form.steps.setValue(4)
    window.form.seed.set_value(11)
    window.form.seed.lock.setChecked(True)
    panel = _opened(qtbot, window, tmp_path / "src.png", edit_mask=True)
    panel.editor.brush_size.setValue(24)
    drag(qtbot, panel.editor.canvas, [(40, 64), (64, 64), (88, 64)])
    painted = panel.editor.canvas.mask() > 0
    assert painted[64, 64] and not painted[10, 10]

    with qtbot.waitSignal(window.progress.job_over, timeout=600_000) as over:
        window.generation.generate()
    assert over.args[1] == "finished", window.banner.text.text()
    with Image.open(history.page(0, 1)[0].path) as image:
        result = np.asarray(image.convert("RGB")).astype(int)
    assert result.shape == source.shape
    # Beyond the mask and its blur (4 px), the source's own pixels.
    near = _grown(painted, 8)
    kept = np.abs(result - source)[~near]
    assert kept.max() <= 2, f"unmasked pixels changed by up to {kept.max()}"
    changed = np.abs(result - source)[painted].mean()
    assert changed > 10, f"the painted part barely changed ({changed:.1f} levels)"


def test_a_mask_file_is_fitted_to_the_source_and_an_all_black_one_refused(qtbot, window, tmp_path):
    panel = _opened(qtbot, window, _image(tmp_path / "src.png", (128, 128)))
    small = np.zeros((64, 64), np.uint8)
    small[:, 32:] = 255  # the right half, at half the size
    Image.fromarray(small).save(tmp_path / "mask.png")
    panel.load_mask_file(tmp_path / "mask.png")
    qtbot.waitUntil(lambda: not panel.busy, timeout=10_000)
    mask = panel.editor.canvas.mask()
    assert mask.shape == (128, 128) and mask[:, 70:].min() == 255 and mask[:, :60].max() == 0
    assert "resized" in panel.notes.text()
    panel.editor.canvas.undo()
    assert not panel.editor.canvas.has_mask()  # a loaded mask is one step of undo

    Image.fromarray(np.zeros((128, 128), np.uint8)).save(tmp_path / "black.png")
    panel.load_mask_file(tmp_path / "black.png")
    qtbot.waitUntil(lambda: not panel.busy, timeout=10_000)
    assert "all black" in panel.error.text() and not panel.editor.canvas.has_mask()
