"""The labelled grid image of a one- or two-axis batch, in the manner of an X/Y plot:
the first axis's labels head the columns, the second's head the rows on the left."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

GRID_KEY = "sd_desk_grid"
BACKGROUND = (255, 255, 255)
INK = (0, 0, 0)
EMPTY_CELL = (200, 200, 200)  # a job that made no image


def font_size_for(cell_width: int, cell_height: int) -> int:
    """Readable at a glance beside the cell: a tenth of its shorter side, never below 14 px."""
    return max(14, round(min(cell_width, cell_height) / 10))


@dataclass(frozen=True)
class GridLayout:
    columns: int
    rows: int
    cell_width: int
    cell_height: int
    left: int  # width of the row-label band (0 with one axis)
    top: int  # height of the column-label band
    column_labels: tuple[tuple[str, ...], ...]  # each label's lines after wrapping
    row_labels: tuple[tuple[str, ...], ...]
    font_size: int

    @property
    def size(self) -> tuple[int, int]:
        return (self.left + self.columns * self.cell_width, self.top + self.rows * self.cell_height)

    def cell_box(self, row: int, column: int) -> tuple[int, int, int, int]:
        x, y = self.left + column * self.cell_width, self.top + row * self.cell_height
        return (x, y, x + self.cell_width, y + self.cell_height)

    def column_label_box(self, column: int) -> tuple[int, int, int, int]:
        x = self.left + column * self.cell_width
        return (x, 0, x + self.cell_width, self.top)

    def row_label_box(self, row: int) -> tuple[int, int, int, int]:
        y = self.top + row * self.cell_height
        return (0, y, self.left, y + self.cell_height)


def _font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _wrap(text: str, font, width: int) -> tuple[str, ...]:
    """Words on as few lines as fit `width`; a word longer than the width gets its own line."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        line = ""
        for word in paragraph.split():
            candidate = f"{line} {word}" if line else word
            if line and font.getlength(candidate) > width:
                lines.append(line)
                line = word
            else:
                line = candidate
        lines.append(line)
    return tuple(lines)


def _line_height(font) -> int:
    ascent, descent = font.getmetrics()
    return ascent + descent


def plan_layout(cell_width: int, cell_height: int, column_labels: Sequence[str],
                row_labels: Sequence[str] = ()) -> GridLayout:
    size = font_size_for(cell_width, cell_height)
    font = _font(size)
    pad = size // 2
    columns = tuple(_wrap(label, font, cell_width - 2 * pad) for label in column_labels)
    rows = tuple(_wrap(label, font, cell_width - 2 * pad) for label in row_labels)
    top = max(len(lines) for lines in columns) * _line_height(font) + 2 * pad
    left = 0
    if rows:
        left = max(font.getlength(line) for lines in rows for line in lines)
        left = min(int(left) + 2 * pad, cell_width)
    return GridLayout(len(columns), max(len(rows), 1), cell_width, cell_height, left, top,
                      columns, rows, size)


def _draw_label(draw: ImageDraw.ImageDraw, box, lines: tuple[str, ...], font) -> None:
    height = _line_height(font)
    x0, y0, x1, y1 = box
    y = (y0 + y1 - height * len(lines)) / 2
    for line in lines:
        x = (x0 + x1 - font.getlength(line)) / 2
        draw.text((x, y), line, fill=INK, font=font)
        y += height


def render_grid(cells: Sequence[Optional[np.ndarray]], layout: GridLayout) -> np.ndarray:
    """`cells` row by row (None: a cell with no image). Each image is cell-sized uint8 RGB."""
    canvas = Image.new("RGB", layout.size, BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    font = _font(layout.font_size)
    for column, lines in enumerate(layout.column_labels):
        _draw_label(draw, layout.column_label_box(column), lines, font)
    for row, lines in enumerate(layout.row_labels):
        _draw_label(draw, layout.row_label_box(row), lines, font)
    for index, pixels in enumerate(cells):
        box = layout.cell_box(*divmod(index, layout.columns))
        if pixels is None:
            draw.rectangle((box[0], box[1], box[2] - 1, box[3] - 1), fill=EMPTY_CELL)
            continue
        image = Image.fromarray(np.asarray(pixels, np.uint8))
        if image.size != (layout.cell_width, layout.cell_height):
            # A size axis makes cells differ: each is shown whole, as large as its cell allows.
            image = ImageOps.contain(image, (layout.cell_width, layout.cell_height), Image.LANCZOS)
        canvas.paste(image, (box[0] + (layout.cell_width - image.width) // 2,
                             box[1] + (layout.cell_height - image.height) // 2))
    return np.asarray(canvas)


def save_grid(path: Path, pixels: np.ndarray, request, seed: int, model_label: str,
              recipe: dict) -> Path:
    """The grid carries the first cell's recipe as A1111 text, and its axes as JSON."""
    from engine.pngmeta import save_png
    return save_png(path, pixels, request, seed, model_label,
                    extra={GRID_KEY: json.dumps(recipe, ensure_ascii=False, sort_keys=True)})
