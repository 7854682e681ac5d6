"""The bar chart PNG, drawn with Pillow alone.

Two panels with their own scales: a cold first run can take a hundred times
a warm one, and on one scale the warm bars (the ones worth comparing) vanish.
"""
from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from engine.benchmark.runner import KERASCV, OURS

WIDTH, HEIGHT = 960, 440
MARGIN, TOP, BOTTOM = 56, 64, 70
COLORS = {"cold": (150, 150, 150), OURS: (52, 120, 200), KERASCV: (230, 140, 40)}
LABELS = {"cold": "first run", OURS: "ours (warm median)", KERASCV: "KerasCV (warm median)"}


def draw(report: dict) -> Image.Image:
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    pen = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    s = report["settings"]
    title = (f"{s['model']}, batch {s['batch']}, {s['steps']} steps, {s['width']}x{s['height']} "
             f"on {report['machine']['device']}"
             + (" (random weights)" if report["random_weights"] else ""))
    pen.text((MARGIN, 12), title, fill="black", font=font)
    configs = report["configs"]
    half = (WIDTH - 3 * MARGIN) // 2
    cold = [{"cold": c["cold_s"]} for c in configs]
    warm = [{OURS: c[OURS]["median_s"], **({KERASCV: c[KERASCV]["median_s"]} if KERASCV in c else {})}
            for c in configs]
    names = [c["config"] for c in configs]
    _panel(pen, font, MARGIN, half, "first run, seconds", names, cold)
    _panel(pen, font, 2 * MARGIN + half, half, "warm run, seconds", names, warm)
    x = MARGIN
    for key in ("cold", OURS, KERASCV):
        if key == KERASCV and not any(KERASCV in w for w in warm):
            continue
        pen.rectangle([x, HEIGHT - 24, x + 12, HEIGHT - 12], fill=COLORS[key])
        pen.text((x + 18, HEIGHT - 25), LABELS[key], fill="black", font=font)
        x += 30 + int(pen.textlength(LABELS[key], font=font))
    return image


def _panel(pen: ImageDraw.ImageDraw, font, left: int, width: int, title: str,
           names: list[str], groups: list[dict]) -> None:
    bottom, height = HEIGHT - BOTTOM, HEIGHT - BOTTOM - TOP
    pen.text((left, TOP - 22), title, fill="black", font=font)
    pen.line([left, TOP, left, bottom, left + width, bottom], fill="black")
    top_value = max([v for g in groups for v in g.values() if v is not None] or [1.0]) * 1.15
    slot = width / max(len(groups), 1)
    for i, (name, group) in enumerate(zip(names, groups)):
        bar = min(slot * 0.7 / max(len(group), 1), 70)
        x = left + i * slot + slot * 0.15
        for key, value in group.items():
            if value is None:
                continue
            # A bar under a pixel (a fake or instant run) is drawn one pixel high.
            y = min(bottom - height * value / top_value, bottom - 1)
            pen.rectangle([x, y, x + bar - 2, bottom - 1], fill=COLORS[key])
            label = f"{value:.1f}" if value >= 10 else f"{value:.2f}"
            pen.text((x, y - 12), label, fill="black", font=font)
            x += bar
        pen.text((left + i * slot + slot * 0.15, bottom + 6), name, fill="black", font=font)


def save(report: dict, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    draw(report).save(path, format="PNG")
    return path
