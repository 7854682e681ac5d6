"""`benchmark --img2img`, inpainting: how much of a masked area follows the prompt with
each masked-content fill (engine/request.py INPAINT_FILLS), the figure the default was
chosen by.

On the demo model: three of its own images (two on a white background, one with a
shape under the mask, one on black), the left half down to three quarters of the
height masked (room for the whole circle the prompt asks for), the prompt "a red circle
on the left, white background". "Follows the prompt" is the share of masked pixels
whose nearest demo colour is red; the prompt's own scene, drawn exactly, has `ideal`
of them red. Also the mean change in the masked area (pixel levels) and the largest
change outside the blurred mask (0: the kept area is the source's).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from engine.request import DEFAULT_INPAINT_FILL, INPAINT_FILLS, GenerationRequest, Source

SIZE = 128
STEPS = 20
SAMPLER = "dpmpp-2m-karras"
SEEDS = (1, 2, 3, 4)
STRENGTHS = (0.75, 1.0)
PROMPT = "a red circle on the left, white background"
SOURCE_PROMPTS = ("a green square on the right, white background",
                  "a blue square on the left, white background",
                  "a green triangle on the right, black background")
SOURCE_SEED = 7
MASK_WIDTH, MASK_HEIGHT = 0.5, 0.75  # of the image, from its top-left corner
UNSTORED = "0" * 64  # the canvas is built from pixels here, not from the store

Progress = Callable[[str], None]


@dataclass
class FillReport:
    steps: int = STEPS
    seeds: tuple[int, ...] = SEEDS
    ideal: float = 0.0  # share of the masked area that is red in the prompt's own scene
    # fill -> strength -> {"red": share, "change": levels, "kept_max": levels}, means over
    # the source images and seeds; per_source: fill -> strength -> red share per source
    rows: dict[str, dict[float, dict[str, float]]] = field(default_factory=dict)
    per_source: dict[str, dict[float, list[float]]] = field(default_factory=dict)


def top_left_mask(size: int = SIZE) -> np.ndarray:
    mask = np.zeros((size, size), np.uint8)
    mask[:int(size * MASK_HEIGHT), :int(size * MASK_WIDTH)] = 255
    return mask


def red_share(images: np.ndarray, where: np.ndarray) -> float:
    """The share of the pixels at `where` (in every image) nearest the demo's red."""
    from engine.demo.scenes import COLOURS
    names = list(COLOURS)
    palette = np.array([COLOURS[n] for n in names], np.float32)
    pixels = np.asarray(images, np.float32)[..., where, :]
    nearest = ((pixels[..., None, :] - palette) ** 2).sum(-1).argmin(-1)
    return float((nearest == names.index("red")).mean())


def ideal_share(size: int = SIZE) -> float:
    from engine.demo import scenes
    circle = scenes.Shape("circle", "red", "left", "large", *scenes.POSITIONS["left"],
                          scenes.SIZES["large"])
    drawn = scenes.render([scenes.Scene("white", (circle,))], size)[0]
    return red_share(drawn[None], top_left_mask(size) > 0)


def measure(steps: int = STEPS, seeds: tuple[int, ...] = SEEDS, fills=INPAINT_FILLS,
            progress: Progress = lambda message: None) -> FillReport:
    """`steps` and `seeds` are smaller only in tests."""
    from engine.demo.backend import load_demo_backend
    from engine.img2img import canvas as canvases
    from engine.sampler import sample

    backend = load_demo_backend(SIZE, SIZE)
    report = FillReport(steps=steps, seeds=tuple(seeds), ideal=ideal_share())
    mask = top_left_mask()
    masked = mask > 0
    sources = []
    for prompt in SOURCE_PROMPTS:
        progress(f"inpainting fills: drawing {prompt!r}")
        request = GenerationRequest(prompt, model="demo", seed=SOURCE_SEED, steps=STEPS,
                                    sampler=SAMPLER, width=SIZE, height=SIZE, preview=False)
        sources.append(sample(backend, request).images[0])
    for fill in fills:
        report.rows[fill], report.per_source[fill] = {}, {}
        for strength in STRENGTHS:
            progress(f"inpainting fills: {fill} at strength {strength}")
            reds, changes, kept_max = [], [], 0.0
            for pixels in sources:
                source = Source(UNSTORED, strength=strength, mask=UNSTORED, inpaint_fill=fill)
                # One batch: image i has seed seeds[0] + i, as made alone.
                request = GenerationRequest(PROMPT, model="demo", seed=seeds[0], batch=len(seeds),
                                            steps=steps, sampler=SAMPLER, width=SIZE, height=SIZE,
                                            preview=False, source=source)
                canvas = canvases.build(source, pixels, mask, SIZE, SIZE, seed=seeds[0])
                out = sample(backend, request, canvas=canvas).images
                change = np.abs(out.astype(np.float64) - pixels[None].astype(np.float64))
                reds.append(red_share(out, masked))
                changes.append(float(change[:, masked].mean()))
                kept_max = max(kept_max, float(change[:, canvas.mask == 0].max()))
            report.rows[fill][strength] = {"red": float(np.mean(reds)),
                                           "change": float(np.mean(changes)), "kept_max": kept_max}
            report.per_source[fill][strength] = reds
    return report


def render(report: FillReport) -> str:
    head = "".join(f"{f'red @ {s:g}':>12}{f'change @ {s:g}':>14}" for s in STRENGTHS)
    first = STRENGTHS[0]
    lines = [f"inpainting, masked content ({len(SOURCE_PROMPTS)} demo images x {len(report.seeds)} "
             f"seeds, {report.steps} steps; the top-left {MASK_WIDTH:g} x {MASK_HEIGHT:g} masked; "
             f"{PROMPT!r}): share of masked pixels that are red (the prompt's own scene: "
             f"{100 * report.ideal:.0f}%), mean change there in levels, the largest change "
             f"outside the mask, and the red share per image at {first:g}",
             f"  {'masked content':<24}{head}{'kept max':>10}   per image"]
    for fill, by_strength in report.rows.items():
        label = fill + (" (default)" if fill == DEFAULT_INPAINT_FILL else "")
        cells = "".join(f"{100 * row['red']:>11.0f}%{row['change']:>14.1f}"
                        for row in by_strength.values())
        kept = max(row["kept_max"] for row in by_strength.values())
        each = " / ".join(f"{100 * r:.0f}%" for r in report.per_source[fill].get(first, []))
        lines.append(f"  {label:<24}{cells}{kept:>10.0f}   {each}")
    return "\n".join(lines)


def to_dict(report: FillReport) -> dict:
    return {"prompt": PROMPT, "sources": list(SOURCE_PROMPTS), "steps": report.steps,
            "seeds": list(report.seeds), "ideal_red": report.ideal,
            "rows": {f: {str(s): row for s, row in by.items()} for f, by in report.rows.items()},
            "red_per_source": {f: {str(s): v for s, v in by.items()}
                               for f, by in report.per_source.items()}}
