"""The window at a small screen's size and at large ones (issue 31, item 5): at 900x600
the banner's button was cut ("esume the queu"), the form showed only its two prompt
boxes, and at every size the right pane touched the window's edge ("Favorites" and, at
1920, "Open" were cut)."""
from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QRect
from PySide6.QtWidgets import QAbstractButton

from gui.queue_panel import RESUME
from tests.gui.test_generation import fill

SIZES = [(900, 600), (1440, 880), (1920, 1080)]


@pytest.fixture
def shown(qtbot, window, themed):
    """The window as a person sees it: themed, one image made and selected, a banner with
    an action (the leftover jobs')."""
    window.model_chooser.select("demo")  # whose note under the form is the longest
    fill(window, prompt="a large white circle on the right and a small blue square on the "
         "left, purple background", steps=2, seed=5)
    with qtbot.waitSignal(window.progress.job_over, timeout=5000):
        window.generation.generate()
    qtbot.waitUntil(lambda: window.gallery.model.rowCount() == 1, timeout=5000)
    window.gallery.view.setCurrentIndex(window.gallery.model.index(0))
    window.notices.banner.show_message(
        "info", "", "2 job(s) from the last session are waiting (1 interrupted: select it "
        "and press Run again).", action=RESUME, on_action=lambda: None)
    return window


def _in_window(widget, window) -> QRect:
    return QRect(widget.mapTo(window, QPoint(0, 0)), widget.size())


def _settle(qtbot, window, width, height):
    window.resize(width, height)
    qtbot.waitUntil(lambda: (window.width(), window.height()) == (width, height), timeout=2000)
    qtbot.wait(50)  # the layouts' passes after the resize


@pytest.mark.parametrize("width, height", SIZES)
def test_the_right_pane_keeps_a_margin_and_its_buttons_whole(qtbot, shown, width, height):
    window = shown
    _settle(qtbot, window, width, height)
    edge = window.width() - 4
    for pane in (window.gallery.widget(0), window.gallery.widget(1)):  # images, details
        box = _in_window(pane, window)
        assert box.right() < edge, (box, width)
    for button in window.gallery.findChildren(QAbstractButton):
        if not button.isVisibleTo(window):
            continue
        box = _in_window(button, window)
        assert box.right() < edge, (button.text(), box, width)
        assert button.width() >= button.sizeHint().width(), (button.text(), width)


def test_at_900_by_600_the_banner_button_details_and_form_fit(qtbot, shown):
    window = shown
    _settle(qtbot, window, 900, 600)
    button = window.banner.button
    assert button.isVisible() and button.width() >= button.sizeHint().width()
    text = window.banner.text
    assert text.height() >= text.heightForWidth(text.width())
    info = window.gallery.details.info
    assert info.isVisible() and info.horizontalScrollBar().maximum() == 0
    assert _in_window(info, window).right() < window.width() - 4
    # More of the form than the two prompt boxes: the model and the seed are in view.
    assert window.generation.model_note.isVisibleTo(window)
    scroll = window.generation.form_scroll
    view = QRect(QPoint(0, 0), scroll.viewport().size())
    for field in (window.model_chooser.combo, window.form.seed.edit):
        box = QRect(field.mapTo(scroll.viewport(), QPoint(0, 0)), field.size())
        assert view.contains(box), (field.objectName(), box, view)
