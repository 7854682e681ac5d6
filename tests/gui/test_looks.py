"""What the window looks like with the app's own theme: a selection that keeps the picture's
colours, disabled buttons that look disabled, nothing clipped at 900x600, a form that holds
still while messages come and go."""
from __future__ import annotations

from PIL import Image
from PySide6.QtGui import QColor, QGuiApplication
from PySide6.QtWidgets import QPushButton

from engine.request import GenerationRequest
from gui.theme import COLOURS

DARK = COLOURS["dark"]


def _close(colour: QColor, rgb, tolerance=6) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip((colour.red(), colour.green(), colour.blue()), rgb))


def _settle(qtbot, window):
    for _ in range(3):
        QGuiApplication.processEvents()
    qtbot.wait(10)


def _one_image(qtbot, window, history, tmp_path, rgb=(40, 160, 90)):
    path = tmp_path / "green.png"
    Image.new("RGB", (128, 128), rgb).save(path)
    history.add_entry(GenerationRequest(prompt="a green picture", seed=1), path)
    window.gallery.model.reload()
    index = window.gallery.model.index(0)
    window.gallery.model.data(index, 1)  # asks for the thumbnail
    qtbot.waitUntil(window.gallery.thumbs.idle, timeout=5000)
    return index


def test_a_selected_thumbnail_keeps_its_colours_and_gets_a_frame(qtbot, themed, window, history, tmp_path):
    rgb = (40, 160, 90)
    index = _one_image(qtbot, window, history, tmp_path, rgb)
    window.gallery.view.setCurrentIndex(index)
    assert window.gallery.view.selectionModel().isSelected(index)
    _settle(qtbot, window)
    shot = window.gallery.view.viewport().grab().toImage()
    rect = window.gallery.view.visualRect(index)
    icon_centre = (rect.center().x(), rect.top() + 8 + window.gallery.thumbs.size // 2)
    assert _close(shot.pixelColor(*icon_centre), rgb), \
        f"the thumbnail is tinted: {shot.pixelColor(*icon_centre).name()} for {QColor(*rgb).name()}"
    accent = QColor(DARK["accent"])
    edge = [shot.pixelColor(x, rect.center().y()) for x in range(rect.left(), rect.left() + 4)]
    assert any(_close(c, (accent.red(), accent.green(), accent.blue()), 30) for c in edge), \
        "the selection shows as a frame in the accent colour"


def test_a_disabled_delete_button_looks_disabled_not_red(qtbot, themed, window):
    details = window.gallery.details
    assert not details.delete_button.isEnabled()  # nothing selected
    _settle(qtbot, window)
    danger = QColor(DARK["danger"])
    image = details.delete_button.grab().toImage()
    reds = [(x, y) for x in range(image.width()) for y in range(image.height())
            if _close(image.pixelColor(x, y), (danger.red(), danger.green(), danger.blue()), 40)]
    assert not reds, "a disabled Delete is drawn in the danger red, as if it could be pressed"


def test_at_900_by_600_no_details_button_or_form_field_is_clipped(qtbot, themed, window, history, tmp_path):
    window.gallery.view.setCurrentIndex(_one_image(qtbot, window, history, tmp_path))
    window.resize(900, 600)
    _settle(qtbot, window)
    assert (window.width(), window.height()) == (900, 600)
    pane = window.gallery.details
    for button in pane.findChildren(QPushButton):
        if not button.isVisible():
            continue
        assert button.width() >= button.sizeHint().width(), f"{button.text()!r} is squeezed"
        top_left = button.mapTo(pane, button.rect().topLeft())
        bottom_right = button.mapTo(pane, button.rect().bottomRight())
        assert pane.rect().contains(top_left) and pane.rect().contains(bottom_right), \
            f"{button.text()!r} is cut off"
    scroll = window.generation.form_scroll
    assert window.form.width() <= scroll.viewport().width(), "the form is wider than its column"


def test_the_form_holds_still_when_a_message_appears(qtbot, themed, window):
    window.resize(1280, 800)
    window.model_chooser.select("demo")
    window.form.prompt.setPlainText("a red circle")
    _settle(qtbot, window)
    assert window.generation.generate_button.isEnabled()

    def places():
        return tuple(widget.mapTo(window, widget.rect().topLeft()) for widget in (
            window.form.negative, window.model_chooser.combo, window.generation.generate_button))

    before = places()
    window.form.prompt.setPlainText("a red circ")  # half a word, as while typing
    _settle(qtbot, window)
    assert not window.generation.generate_button.isEnabled()
    assert 'does not know "circ"' in window.form.errors["prompt"].text()
    assert 'does not know "circ"' in window.generation.why_disabled.text()
    assert places() == before
    window.form.prompt.setPlainText("a red circle")
    _settle(qtbot, window)
    assert places() == before


def test_a_long_message_keeps_its_lines_cut_with_an_ellipsis_and_whole_in_the_tooltip(qtbot):
    from gui.clamped_label import ClampedLabel
    label = ClampedLabel(2)
    qtbot.addWidget(label)
    label.resize(200, label.height())
    label.show()
    height = label.height()
    message = "The demo model does not know \"circ\". " + "It draws circles, squares and triangles. " * 6
    label.setText(message)
    assert label.text() == message and label.height() == height
    shown = _drawn(label)
    assert len(shown.split("\n")) == 2 and shown.endswith("\u2026")
    assert shown.replace("\n", " ").startswith('The demo model does not know "circ". It draws')
    assert label.toolTip() == message
    label.setText("Short.")
    assert _drawn(label) == "Short." and label.toolTip() == "" and label.height() == height


def _drawn(label) -> str:
    """What the label draws (its own text() is the whole message)."""
    from PySide6.QtWidgets import QLabel
    return QLabel.text(label)
