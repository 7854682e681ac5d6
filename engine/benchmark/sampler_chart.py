"""The convergence chart: distance to the reference against steps, one line per
sampler, on a log scale (errors span two orders of magnitude). Pillow alone."""
from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from engine.benchmark.samplers import GOOD_ENOUGH, Convergence
from engine.samplers import a1111_name

WIDTH, HEIGHT, MARGIN = 900, 520, 70
PALETTE = [(52, 120, 200), (230, 140, 40), (120, 120, 120), (60, 160, 80), (200, 50, 60),
           (140, 80, 180), (30, 170, 170), (180, 150, 20), (230, 90, 170), (20, 60, 120)]


def draw(conv: Convergence) -> Image.Image:
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    pen = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    counts = sorted({n for row in conv.errors.values() for n in row})
    values = [e for row in conv.errors.values() for e in row.values() if e > 0]
    low, high = math.log10(min(values + [GOOD_ENOUGH]) / 1.5), math.log10(max(values) * 1.5)
    left, right, top, bottom = MARGIN, WIDTH - 200, 40, HEIGHT - MARGIN

    def x_of(n):
        return left + (math.log(n) - math.log(counts[0])) / (math.log(counts[-1]) - math.log(counts[0])) * (right - left)

    def y_of(e):
        return bottom - (math.log10(max(e, 10 ** low)) - low) / (high - low) * (bottom - top)

    pen.text((left, 10), "Mean |difference| to the 200-step reference (pixel levels, log) "
                         "against steps, demo model", fill="black", font=font)
    pen.rectangle([left, top, right, bottom], outline="black")
    for n in counts:
        pen.text((x_of(n) - 6, bottom + 6), str(n), fill="black", font=font)
    for exponent in range(math.ceil(low), math.floor(high) + 1):
        for mantissa in (1, 2, 5):
            e = mantissa * 10 ** exponent
            if low <= math.log10(e) <= high:
                pen.line([left, y_of(e), right, y_of(e)], fill=(230, 230, 230))
                pen.text((8, y_of(e) - 6), f"{e:g}", fill="black", font=font)
    pen.line([left, y_of(GOOD_ENOUGH), right, y_of(GOOD_ENOUGH)], fill="black", width=1)
    pen.text((right + 8, y_of(GOOD_ENOUGH) - 6), f"{GOOD_ENOUGH:g} levels", fill="black", font=font)
    for i, (sampler, row) in enumerate(conv.errors.items()):
        colour = PALETTE[i % len(PALETTE)]
        points = [(x_of(n), y_of(row[n])) for n in counts if n in row]
        pen.line(points, fill=colour, width=2)
        for px, py in points:
            pen.ellipse([px - 3, py - 3, px + 3, py + 3], fill=colour)
        pen.text((right + 8, top + 16 * i + 20), a1111_name(sampler), fill=colour, font=font)
    return image


def save(conv: Convergence, path: Path) -> Path:
    path = Path(path)
    draw(conv).save(path)
    return path
