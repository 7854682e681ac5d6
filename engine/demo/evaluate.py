"""Does the demo model draw what its captions say? Measured on captions it never saw.

    .venv/bin/python -m engine.demo.evaluate                  # K=4, guidance 1 vs 7.5
    .venv/bin/python -m engine.demo.evaluate -k 8 --guidance 1 3 7.5 --sheet /tmp/sheet.png

Every held-out caption (scenes.HELD_OUT: colour/shape/background combinations
left out of training, at each of the five positions) is generated K times
through the shared step loop, and each image is read back by image analysis
(engine.demo.analysis, exact on our own renders). The table gives, per
attribute, the share of images that match the caption.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from engine import sampler  # noqa: E402
from engine.demo import scenes  # noqa: E402
from engine.demo.analysis import read_image  # noqa: E402
from engine.demo.backend import load_demo_backend  # noqa: E402
from engine.demo.model import IMAGE_SIZE  # noqa: E402
from engine.request import GenerationRequest  # noqa: E402

ATTRIBUTES = ("colour", "background", "shape", "position", "size")
DEFAULT_GUIDANCE = GenerationRequest.__dataclass_fields__["guidance"].default
AIMS = {"colour": 0.90, "background": 0.95, "shape": 0.80, "position": 0.80}


def matches(expected: scenes.Scene, image: np.ndarray) -> dict[str, bool]:
    want, got = expected.shapes[0], read_image(image)
    result = {
        "colour": got.colour == want.colour,
        "background": got.background == expected.background,
        "shape": got.shape == want.kind,
        "position": got.position == want.position,
        "size": got.size == want.size,
    }
    result["all"] = all(result[a] for a in ATTRIBUTES)
    return result


def evaluate(guidance: float, k: int, steps: int, folder: Path | None = None,
             keep: list | None = None) -> dict[str, float]:
    backend = load_demo_backend(IMAGE_SIZE * 2, IMAGE_SIZE * 2, folder)
    scores: dict[str, list[bool]] = {a: [] for a in (*ATTRIBUTES, "all")}
    for i, (caption, expected) in enumerate(scenes.eval_captions()):
        request = GenerationRequest(prompt=caption, seed=1000 + i * k, steps=steps,
                                    guidance=guidance, batch=k, model="demo", preview=False,
                                    width=128, height=128)
        images = sampler.sample(backend, request).images
        if keep is not None:
            keep.append(images)
        for image in images:
            for attribute, ok in matches(expected, image).items():
                scores[attribute].append(ok)
    return {a: float(np.mean(v)) for a, v in scores.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-k", type=int, default=4, help="images per caption (at most 8)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--guidance", type=float, nargs="+", default=[1.0, DEFAULT_GUIDANCE])
    parser.add_argument("--weights", type=Path, default=None, help="folder (default: resources/demo)")
    parser.add_argument("--sheet", type=Path, default=None,
                        help="also save every image of the last guidance as one PNG")
    args = parser.parse_args(argv)

    n = len(scenes.eval_captions())
    print(f"{n} held-out captions x {args.k} images, {args.steps} steps, "
          f"measured on the model's {IMAGE_SIZE * 2}x{IMAGE_SIZE * 2} output")
    results, kept = {}, []
    for g in args.guidance:
        started = time.perf_counter()
        kept = []
        results[g] = evaluate(g, args.k, args.steps, args.weights, kept)
        print(f"  guidance {g:g}: {time.perf_counter() - started:.0f}s", flush=True)

    header = f"| {'attribute':<10} | " + " | ".join(f"guidance {g:g}" for g in args.guidance)
    print(f"\n{header} | aim |")
    print("|" + "---|" * (len(args.guidance) + 2))
    for attribute in (*ATTRIBUTES, "all"):
        cells = " | ".join(f"{results[g][attribute]:>11.1%}" for g in args.guidance)
        aim = f"{AIMS[attribute]:.0%}" if attribute in AIMS else ""
        print(f"| {attribute:<10} | {cells} | {aim} |")

    if args.sheet:
        from PIL import Image
        rows = [np.concatenate(list(images), axis=1) for images in kept]
        Image.fromarray(np.concatenate(rows, axis=0)).save(args.sheet)
        print(f"\nimages (guidance {args.guidance[-1]:g}, one caption per row): {args.sheet}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
