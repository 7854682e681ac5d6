"""The inpainting mask painted with the mouse: what is under a stroke is white, at the
source's own size, and eraser, undo, invert and clear do what they say."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from gui.mask_editor import MaskEditor, rgb_qimage

W, H = 160, 96  # not square, not the widget's size: the mapping to source pixels matters


@pytest.fixture
def editor(qtbot):
    editor = MaskEditor()
    qtbot.addWidget(editor)
    source = np.zeros((H, W, 3), np.uint8)
    source[..., 1] = 120
    editor.canvas.set_image(rgb_qimage(source))
    editor.show()
    qtbot.waitExposed(editor)
    return editor


def drag(qtbot, canvas, points):
    """Press at the first image pixel, move through the others, release at the last."""
    where = [canvas.to_widget(x, y) for x, y in points]
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=where[0])
    for point in where[1:]:
        qtbot.mouseMove(canvas, point)
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=where[-1])


def test_a_stroke_paints_white_under_it_at_the_source_size(qtbot, editor):
    editor.brush_size.setValue(10)
    with qtbot.waitSignal(editor.canvas.changed):
        drag(qtbot, editor.canvas, [(20, 40), (60, 40), (100, 40)])
    mask = editor.canvas.mask()
    assert mask.shape == (H, W) and mask.dtype == np.uint8
    assert set(np.unique(mask)) == {0, 255}
    # Under the stroke, from its start to its end, and nothing far from it.
    assert (mask[40, 20:101] == 255).all()
    assert (mask[36:45, 60] == 255).all()
    assert not mask[:30].any() and not mask[52:].any()
    assert not mask[:, :12].any() and not mask[:, 110:].any()


def test_eraser_clears_what_it_passes_over(qtbot, editor):
    editor.brush_size.setValue(20)
    drag(qtbot, editor.canvas, [(20, 48), (140, 48)])
    assert editor.canvas.mask()[48, 80] == 255
    qtbot.mouseClick(editor.erase_button, Qt.MouseButton.LeftButton)
    editor.brush_size.setValue(8)
    drag(qtbot, editor.canvas, [(80, 30), (80, 66)])
    mask = editor.canvas.mask()
    assert mask[48, 80] == 0 and mask[48, 40] == 255 and mask[48, 120] == 255


def test_undo_takes_back_one_stroke_at_a_time_with_ctrl_z(qtbot, editor):
    editor.brush_size.setValue(6)
    drag(qtbot, editor.canvas, [(20, 20), (40, 20)])
    first = editor.canvas.mask()
    drag(qtbot, editor.canvas, [(20, 70), (40, 70)])
    assert editor.canvas.mask()[70, 30] == 255
    editor.canvas.setFocus()
    qtbot.keyClick(editor.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(editor.canvas.mask(), first)
    qtbot.mouseClick(editor.undo_button, Qt.MouseButton.LeftButton)
    assert not editor.canvas.mask().any()
    assert not editor.undo_button.isEnabled()


def test_invert_and_clear(qtbot, editor):
    editor.brush_size.setValue(6)
    drag(qtbot, editor.canvas, [(20, 20), (40, 20)])
    painted = editor.canvas.mask()
    qtbot.mouseClick(editor.invert_button, Qt.MouseButton.LeftButton)
    assert np.array_equal(editor.canvas.mask(), 255 - painted)
    qtbot.mouseClick(editor.clear_button, Qt.MouseButton.LeftButton)
    assert not editor.canvas.mask().any() and not editor.canvas.has_mask()
    editor.canvas.undo()
    assert np.array_equal(editor.canvas.mask(), 255 - painted)


def test_the_mask_shows_as_a_translucent_overlay(qtbot, editor):
    editor.brush_size.setValue(30)
    drag(qtbot, editor.canvas, [(80, 48)])
    shot = editor.canvas.grab().toImage()
    inside = shot.pixelColor(editor.canvas.to_widget(80, 48))
    outside = shot.pixelColor(editor.canvas.to_widget(5, 5))
    assert outside.green() > 100 and outside.red() < 20  # the source's own green
    assert inside.red() > 100 and inside.green() > 40  # red over green: both show


def test_the_hint_follows_what_is_painted(qtbot, editor):
    """Issue 31: the editor still said "Nothing painted" after painting."""
    from gui.mask_editor import NOTHING_PAINTED, PAINTED
    assert editor.hint.text() == NOTHING_PAINTED
    editor.brush_size.setValue(6)
    drag(qtbot, editor.canvas, [(20, 20), (40, 20)])
    assert editor.hint.text() == PAINTED
    qtbot.mouseClick(editor.clear_button, Qt.MouseButton.LeftButton)
    assert editor.hint.text() == NOTHING_PAINTED
