"""The grid image: cells where the layout says, labels in their bands, legible, recipe inside."""
import json

import numpy as np
import pytest
from PIL import Image, ImageDraw

from engine.batch.grid import (BACKGROUND, GRID_KEY, _draw_label, _font, font_size_for,
                               plan_layout, render_grid, save_grid)
from engine.pngmeta import read_png_metadata
from engine.request import GenerationRequest


def solid(colour, w=128, h=128):
    return np.full((h, w, 3), colour, np.uint8)


def ink(pixels, box):
    x0, y0, x1, y1 = box
    region = pixels[y0:y1, x0:x1]
    return np.argwhere((region != BACKGROUND).any(axis=-1))


def label_alone(layout, box, lines):
    """The label as it should look: drawn by itself on a blank band of the same size."""
    w, h = box[2] - box[0], box[3] - box[1]
    canvas = Image.new("RGB", (w, h), BACKGROUND)
    _draw_label(ImageDraw.Draw(canvas), (0, 0, w, h), lines, _font(layout.font_size))
    return np.asarray(canvas)


COLOURS = [(200, 0, 0), (0, 200, 0), (0, 0, 200), (200, 200, 0), (0, 200, 200), (200, 0, 200)]


def test_two_axes_cells_sit_in_rows_and_columns_under_their_labels():
    layout = plan_layout(128, 128, ["Steps: 10", "Steps: 20", "Steps: 40"], ["Seed: 1", "Seed: 2"])
    pixels = render_grid([solid(c) for c in COLOURS], layout)
    assert layout.size == (layout.left + 3 * 128, layout.top + 2 * 128)
    assert pixels.shape == (layout.size[1], layout.size[0], 3)
    assert layout.left > 0 and layout.top > 0
    for index, colour in enumerate(COLOURS):
        row, column = divmod(index, 3)
        x0, y0, x1, y1 = layout.cell_box(row, column)
        assert (x0, y0) == (layout.left + column * 128, layout.top + row * 128)
        assert (pixels[y0:y1, x0:x1] == colour).all(), (row, column)
    for column in range(3):
        box = layout.column_label_box(column)
        assert len(ink(pixels, box)) > 0
        crop = pixels[box[1]:box[3], box[0]:box[2]]
        assert (crop == label_alone(layout, box, layout.column_labels[column])).all()
    for row in range(2):
        box = layout.row_label_box(row)
        crop = pixels[box[1]:box[3], box[0]:box[2]]
        assert len(ink(pixels, box)) > 0
        assert (crop == label_alone(layout, box, layout.row_labels[row])).all()
    # The corner above the row labels stays blank.
    assert len(ink(pixels, (0, 0, layout.left, layout.top))) == 0


def test_labels_differ_per_column_and_are_centred_in_their_band():
    layout = plan_layout(128, 128, ["Steps: 10", "Steps: 20"])
    pixels = render_grid([solid(COLOURS[0]), solid(COLOURS[1])], layout)
    first, second = (pixels[b[1]:b[3], b[0]:b[2]] for b in map(layout.column_label_box, (0, 1)))
    assert not (first == second).all()
    points = ink(pixels, layout.column_label_box(0))
    (top, left), (bottom, right) = points.min(axis=0), points.max(axis=0)
    assert abs((left + right) / 2 - 64) <= 3
    assert abs((top + bottom) / 2 - layout.top / 2) <= 4


def test_one_axis_has_no_row_band():
    layout = plan_layout(256, 256, ["a", "b"])
    assert layout.left == 0 and layout.rows == 1 and layout.size == (512, layout.top + 256)


@pytest.mark.parametrize("side", [128, 256, 512, 1024])
def test_label_text_grows_with_the_cell_and_stays_legible(side):
    layout = plan_layout(side, side, ["Guidance: 7.5"])
    assert layout.font_size == font_size_for(side, side)
    assert layout.font_size >= 14 and layout.font_size >= side / 12
    pixels = render_grid([solid(COLOURS[0], side, side)], layout)
    points = ink(pixels, layout.column_label_box(0))
    ink_height = points[:, 0].max() - points[:, 0].min()
    assert ink_height >= 0.6 * layout.font_size  # capitals, not specks


def test_a_long_label_wraps_inside_its_column():
    text = "a very large purple triangle in the bottom right corner, white background"
    layout = plan_layout(128, 128, [text, "short"])
    assert len(layout.column_labels[0]) > 1 and " ".join(layout.column_labels[0]) == text
    font = _font(layout.font_size)
    assert all(font.getlength(line) <= 128 for line in layout.column_labels[0])
    pixels = render_grid([solid(COLOURS[0]), solid(COLOURS[1])], layout)
    points = ink(pixels, (0, 0, layout.size[0], layout.top))
    assert points[:, 1].max() < layout.size[0] and len(ink(pixels, layout.column_label_box(0))) > 0


def test_a_missing_cell_is_grey_and_other_sizes_fit_their_cell_unstretched():
    layout = plan_layout(256, 256, ["a", "b", "c"])
    pixels = render_grid([None, solid(COLOURS[2], 128, 128), solid(COLOURS[3], 128, 256)], layout)
    x0, y0, x1, y1 = layout.cell_box(0, 0)
    assert (pixels[y0:y1, x0:x1] == 200).all()
    x0, y0, x1, y1 = layout.cell_box(0, 1)
    assert (pixels[y0:y1, x0:x1] == COLOURS[2]).all()
    x0, y0, x1, y1 = layout.cell_box(0, 2)  # 128 wide, 256 tall: centred, white either side
    assert (pixels[y0:y1, x0 + 64:x0 + 192] == COLOURS[3]).all()
    assert (pixels[y0:y1, x0:x0 + 64] == BACKGROUND).all()
    assert (pixels[y0:y1, x0 + 192:x1] == BACKGROUND).all()


def test_saved_grid_carries_a1111_parameters_and_its_axes(tmp_path):
    layout = plan_layout(128, 128, ["Steps: 2", "Steps: 3"])
    request = GenerationRequest("a red circle", seed=5, steps=2, width=128, height=128, model="demo")
    axes = {"columns": {"name": "steps", "values": ["2", "3"]}, "rows": None}
    path = save_grid(tmp_path / "grid-1.png", render_grid([solid(COLOURS[0])] * 2, layout),
                     request, 5, "demo", axes)
    meta = read_png_metadata(path)
    assert meta.parameters.prompt == "a red circle" and meta.parameters.steps == 2
    with Image.open(path) as image:
        assert json.loads(image.text[GRID_KEY]) == axes
