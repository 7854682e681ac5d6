"""`benchmark --img2img`: how far image to image moves from its source, what inpainting
keeps, which outpainting fill leaves the smaller seam, and what encoding costs.

The distances are measured on the demo model (pixel space, so they are the loop's
own and not a VAE's): a blue source with a white patch, repainted towards a prompt
with a green background, in pixel levels (0..255). Stable Diffusion's side runs its
real networks with random weights: the VAE's round trip (meaningless as quality,
but it is the floor any SD image to image stands on with these weights) and the
seconds the encoder takes at the sizes a person uses.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from engine.benchmark import inpaint_fills
from engine.img2img import canvas as canvases
from engine.request import GenerationRequest, Source

SIZE = 128
STEPS = 20
SAMPLER = "dpmpp-2m-karras"
SEEDS = (1, 2, 3)
PROMPT = "a red circle on a green background"
STRENGTHS = (0.0, 0.25, 0.5, 0.75, 1.0)
MARGIN = 64  # outpainting: this much on the left and on the right
SEAM_BAND = 8  # pixels either side of a seam that its score looks at
ENCODE_SIZES = (128, 512)
MASK_BLUR = 4
BLUR_REACH = 12  # pixels past an edge that a blur of MASK_BLUR may still change
UNSTORED = "0" * 64  # an image id: the canvas is built from pixels here, not from the store

Progress = Callable[[str], None]


@dataclass
class Img2ImgReport:
    steps: int = STEPS
    strength_distance: dict[float, float] = field(default_factory=dict)  # levels to the source
    inpaint: dict[str, float] = field(default_factory=dict)
    outpaint: dict[str, dict[str, float]] = field(default_factory=dict)  # fill -> scores
    sd: dict[str, float] = field(default_factory=dict)
    fills: Optional[inpaint_fills.FillReport] = None  # inpainting's masked-content fills


def source_image(width: int = SIZE, height: int = SIZE) -> np.ndarray:
    image = np.zeros((height, width, 3), np.uint8)
    image[...] = (30, 60, 200)
    image[height // 4:height // 2, width // 4:width // 2] = (240, 240, 240)
    return image


def corner_mask(width: int = SIZE, height: int = SIZE) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    mask[height // 2:, width // 2:] = 255
    return mask


def _levels(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))


def _run(backend, source: Source, pixels: np.ndarray, mask: Optional[np.ndarray], width: int,
         height: int, steps: int, fill: str = canvases.DEFAULT_FILL) -> np.ndarray:
    """The images of every seed (one batch: image i has seed SEEDS[0] + i, as made alone)."""
    from engine.sampler import sample
    request = GenerationRequest(PROMPT, model="demo", seed=SEEDS[0], batch=len(SEEDS), steps=steps,
                                sampler=SAMPLER, width=width, height=height, preview=False,
                                source=source)
    canvas = canvases.build(source, pixels, mask, width, height, seed=SEEDS[0], fill=fill)
    return sample(backend, request, canvas=canvas).images


def demo_distances(steps: int = STEPS, progress: Progress = lambda message: None,
                   fill_seeds: tuple[int, ...] = inpaint_fills.SEEDS) -> Img2ImgReport:
    """`steps` and `fill_seeds` are smaller only in tests."""
    from engine.demo.backend import load_demo_backend
    report = Img2ImgReport(steps=steps)
    backend = load_demo_backend(SIZE, SIZE)
    pixels = source_image()
    for strength in STRENGTHS:
        progress(f"strength {strength}")
        out = _run(backend, Source(UNSTORED, strength=strength), pixels, None, SIZE, SIZE, steps)
        report.strength_distance[strength] = float(_levels(out, pixels[None]).mean())

    progress("inpainting")
    mask = corner_mask()
    source = Source(UNSTORED, strength=1.0, mask=UNSTORED, mask_blur=MASK_BLUR)
    out = _run(backend, source, pixels, mask, SIZE, SIZE, steps)
    blurred = canvases.build(source, pixels, mask, SIZE, SIZE).mask
    change = _levels(out, pixels[None])
    kept, repainted = blurred == 0, blurred == 1
    report.inpaint = {"kept_max": float(change[:, kept].max()),
                      "kept_mean": float(change[:, kept].mean()),
                      "repainted_mean": float(change[:, repainted].mean()),
                      "kept_share": float(kept.mean())}

    for fill in canvases.FILLS:
        progress(f"outpainting, {fill} fill")
        margins = (MARGIN, 0, MARGIN, 0)
        # The start the margins get from their pixel fill, which this compares.
        source = Source(UNSTORED, strength=1.0, mask_blur=MASK_BLUR, outpaint=margins,
                        inpaint_fill="original")
        width = SIZE + 2 * MARGIN
        out = _run(load_demo_backend(width, SIZE), source, pixels, None, width, SIZE, steps, fill=fill)
        inner = out[:, :, MARGIN:MARGIN + SIZE]
        report.outpaint[fill] = {
            "seam": seam_score(out, (MARGIN, MARGIN + SIZE)),
            "kept_max": float(_levels(inner[:, :, BLUR_REACH:-BLUR_REACH],
                                      pixels[None, :, BLUR_REACH:-BLUR_REACH]).max()),
            "margin_green_over_blue": _green_over_blue(np.concatenate(
                [out[:, :, :MARGIN - BLUR_REACH], out[:, :, -(MARGIN - BLUR_REACH):]], axis=2)),
        }
    report.fills = inpaint_fills.measure(steps, fill_seeds, progress=progress)
    return report


def seam_score(images: np.ndarray, columns: tuple[int, ...]) -> float:
    """How much sharper the picture changes across the seams than elsewhere: the mean
    horizontal step (levels) within SEAM_BAND of each seam column, minus the mean step
    over the whole image. 0 is an invisible seam."""
    jumps = _levels(images[:, :, 1:], images[:, :, :-1]).mean(axis=(0, 1, 3))  # per column gap
    near = np.concatenate([jumps[c - SEAM_BAND:c + SEAM_BAND] for c in columns])
    return float(near.mean() - jumps.mean())


def _green_over_blue(images: np.ndarray) -> float:
    red, green, blue = images.reshape(-1, 3).astype(np.float64).mean(axis=0)
    return float(green - blue)


def sd_measures(size: int = SIZE, encode_sizes=ENCODE_SIZES, runs: int = 3,
                progress: Progress = lambda message: None) -> dict[str, float]:
    """The VAE round trip at `size` and the encoder's warm seconds at each of `encode_sizes`,
    through our SD backend's own encode_image and decode, with random weights."""
    from engine.backends.keras_sd import Components, keras_stable_diffusion
    from engine.models.registry import get_model

    progress("building Stable Diffusion 1.4 (random weights)")
    spec = get_model("sd-v1.4")
    backend = keras_stable_diffusion(spec, "random weights", size, size,
                                     Components(spec, size, size), tokenizer=None)
    pixels = source_image(size, size)[None]
    round_trip = _levels(backend.decode(backend.encode_image(pixels)), pixels)
    result = {"round_trip_mean": float(round_trip.mean()), "round_trip_max": float(round_trip.max()),
              "round_trip_size": float(size)}
    for side in encode_sizes:
        progress(f"encoding at {side}x{side}")
        image = source_image(side, side)[None]
        backend.encode_image(image)  # traces this size outside the timing
        seconds = []
        for _ in range(runs):
            started = time.perf_counter()
            backend.encode_image(image)
            seconds.append(time.perf_counter() - started)
        result[f"encode_s_{side}"] = float(np.median(seconds))
    return result


def render(report: Img2ImgReport) -> str:
    lines = [f"Demo model, {SIZE}x{SIZE}, {len(SEEDS)} seeds, {report.steps} steps of {SAMPLER}; "
             f"a blue source, the prompt {PROMPT!r}; mean |difference| in pixel levels",
             "", f"{'strength':<10}" + "".join(f"{s:>8g}" for s in report.strength_distance),
             f"{'to source':<10}" + "".join(f"{d:8.1f}" for d in report.strength_distance.values())]
    if report.inpaint:
        i = report.inpaint
        lines += ["", f"inpainting (strength 1, a quarter masked, blur {MASK_BLUR}): kept pixels "
                      f"({100 * i['kept_share']:.0f}%) changed mean {i['kept_mean']:.2f}, "
                      f"max {i['kept_max']:.0f}; repainted pixels mean {i['repainted_mean']:.1f}"]
    if report.fills is not None:
        lines += ["", inpaint_fills.render(report.fills)]
    if report.outpaint:
        lines += ["", f"outpainting ({MARGIN} px left and right): seam = mean step within "
                      f"{SEAM_BAND} px of the seam minus the image's mean step (0 is invisible)"]
        for fill, row in report.outpaint.items():
            default = " (default)" if fill == canvases.DEFAULT_FILL else ""
            lines.append(f"  {fill + ' fill' + default:<20} seam {row['seam']:6.2f}   original area "
                         f"max change {row['kept_max']:.0f}   margins green-blue "
                         f"{row['margin_green_over_blue']:+.0f}")
    if report.sd:
        sd = report.sd
        side = int(sd["round_trip_size"])
        lines += ["", f"Stable Diffusion's VAE, random weights: decode(encode(x)) at {side}x{side} "
                      f"differs from x by mean {sd['round_trip_mean']:.1f}, max {sd['round_trip_max']:.0f} "
                      "levels (untrained, so this says nothing of a trained VAE's loss; strength 0 "
                      "skips the VAE and returns the source exactly)"]
        for key, value in sd.items():
            if key.startswith("encode_s_"):
                n = key.rsplit("_", 1)[1]
                lines.append(f"  encoding one {n}x{n} image: {value:.2f} s (warm, median)")
    return "\n".join(lines)


def to_dict(report: Img2ImgReport) -> dict:
    return {"size": SIZE, "steps": report.steps, "sampler": SAMPLER, "seeds": list(SEEDS), "prompt": PROMPT,
            "strength_distance": {str(k): v for k, v in report.strength_distance.items()},
            "inpaint": report.inpaint, "outpaint": report.outpaint, "stable_diffusion": report.sd,
            "inpaint_fills": None if report.fills is None else inpaint_fills.to_dict(report.fills)}
