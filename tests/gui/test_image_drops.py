"""Images from outside: dropped on the window (a PNG's recipe fills the form, or the image
becomes the source), and File > Open Image, which takes an image as a drop does."""
from __future__ import annotations

import numpy as np
from PIL import Image, PngImagePlugin
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from engine.pngmeta import save_png
from engine.request import GenerationRequest
from tests.gui.test_gallery import _png
from tests.gui.test_image_to_image import _image


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


def test_a_dropped_png_with_a_recipe_asks_what_it_is_for(qtbot, window, drop_answers, tmp_path):
    answers, asked = drop_answers
    request = GenerationRequest(prompt="from the file", seed=9, steps=7, width=256, height=256,
                                model="sd-v1.4")
    path = save_png(tmp_path / "made.png", np.full((64, 64, 3), 90, np.uint8), request, 9, "sd-v1.4")
    panel = window.form.source_panel
    window.form.prompt.setPlainText("mine")

    answers.append("source")
    _drop(window, path)
    qtbot.waitUntil(lambda: panel.is_set and not panel.busy, timeout=10_000)
    assert asked == [path] and window.form.prompt.toPlainText() == "mine"

    answers.append("cancel")
    _drop(window, path)
    assert window.form.prompt.toPlainText() == "mine" and len(asked) == 2

    _drop(window, path)  # "recipe", as every drop meant before
    assert window.form.prompt.toPlainText() == "from the file" and window.form.request().steps == 7
    assert not panel.is_set  # our own recipe is the whole request: this one was text to image

    panel.clear()
    _drop(window, path, target=panel.thumb)  # on the panel itself: no question
    qtbot.waitUntil(lambda: panel.is_set and not panel.busy, timeout=10_000)
    assert len(asked) == 3


def test_a_png_without_a_recipe_can_still_become_the_source(qtbot, window, tmp_path):
    _drop(window, _image(tmp_path / "plain.png", (128, 128)))
    assert "carries no generation parameters" in window.banner.text.text()
    qtbot.mouseClick(window.banner.button, Qt.MouseButton.LeftButton)
    panel = window.form.source_panel
    qtbot.waitUntil(lambda: panel.is_set and not panel.busy, timeout=10_000)
    assert window.form.request().width == 128


def test_file_open_image_takes_any_image_as_a_drop_does(qtbot, window, drop_answers, tmp_path,
                                                      monkeypatch):
    from PySide6.QtWidgets import QFileDialog
    answers, asked = drop_answers
    photo = tmp_path / "photo.jpg"
    Image.open(_image(tmp_path / "photo.png", (128, 192))).save(photo)
    chosen = []
    monkeypatch.setattr(QFileDialog, "getOpenFileName",
                        lambda *args: (str(chosen[-1]), ""))
    panel = window.form.source_panel

    chosen.append(photo)  # not a PNG: no recipe to ask about, it is the source
    window.menus.actions["open"].trigger()
    qtbot.waitUntil(lambda: panel.is_set and not panel.busy, timeout=10_000)
    assert asked == [] and window.form.request().height == 192

    panel.clear()
    request = GenerationRequest(prompt="from the file", seed=9, steps=7, width=256, height=256,
                                model="sd-v1.4")
    chosen.append(save_png(tmp_path / "made.png", np.full((64, 64, 3), 90, np.uint8), request, 9,
                           "sd-v1.4"))
    window.menus.actions["open"].trigger()  # "recipe", the drop_answers default
    assert asked == [chosen[-1]] and window.form.prompt.toPlainText() == "from the file"


def test_the_recipe_question_is_titled_by_the_file_not_as_a_drop(window, tmp_path):
    """File > Open Image asks it too, so a title of "Dropped image" was wrong there."""
    box, answers = window.drops.recipe_question(tmp_path / "made.png")
    assert box.windowTitle() == "made.png"
    assert sorted(answers.values()) == ["recipe", "source"]
    box.deleteLater()
