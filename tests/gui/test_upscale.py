""""Upscale x2" from the gallery menu and the viewer: a job on the queue for the image at
twice its size, plain (strength 0) or repainted with its own recipe; too large is said."""
from __future__ import annotations

from PIL import Image

from engine.hires.upscale_image import REPAINT_STRENGTH
from engine.request import GenerationRequest
from tests.gui.test_gallery_panel import _select


def _add(window, history, tmp_path, side=128, name="img.png"):
    path = tmp_path / name
    Image.new("RGB", (side, side // 2), (200, 40, 40)).save(path)
    history.add_entry(GenerationRequest(prompt="a red circle", seed=11, model="demo", steps=6,
                                        sampler="euler"), path)
    window.gallery.model.reload()


def _menu_action(window, text):
    return next(a for a in window.gallery.context_menu().actions() if a.text() == text)


def test_upscale_queues_the_image_at_twice_its_size_unchanged(qtbot, window, history, engine, tmp_path):
    _add(window, history, tmp_path)
    _select(window, 0)
    _menu_action(window, "Upscale \u00d72").trigger()
    qtbot.waitUntil(lambda: len(engine.requests) == 1, timeout=5000)
    request = engine.requests[0]
    assert (request.width, request.height) == (256, 128)
    assert request.source is not None and request.source.strength == 0
    assert (request.prompt, request.seed, request.sampler) == ("a red circle", 11, "euler")


def test_upscale_and_repaint_uses_a_low_strength_with_the_recipe(qtbot, window, history, engine, tmp_path):
    _add(window, history, tmp_path)
    _select(window, 0)
    _menu_action(window, "Upscale \u00d72 and repaint").trigger()
    qtbot.waitUntil(lambda: len(engine.requests) == 1, timeout=5000)
    assert engine.requests[0].source.strength == REPAINT_STRENGTH


def test_the_viewer_button_upscales_the_image_shown(qtbot, window, history, engine, tmp_path):
    _add(window, history, tmp_path)
    window.gallery.open_viewer(0)
    viewer = window.gallery.viewer
    qtbot.addWidget(viewer)
    viewer.upscale_button.click()
    qtbot.waitUntil(lambda: len(engine.requests) == 1, timeout=5000)
    assert engine.requests[0].source.strength == REPAINT_STRENGTH
    assert engine.requests[0].width == 256
    viewer.close()


def test_an_image_too_large_to_double_is_said(qtbot, window, history, engine, tmp_path):
    _add(window, history, tmp_path, side=640)
    _select(window, 0)
    _menu_action(window, "Upscale \u00d72").trigger()
    qtbot.waitUntil(lambda: "at most 1024" in window.banner.text.text(), timeout=5000)
    assert engine.requests == []
