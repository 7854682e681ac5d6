""""Upscale x2" on a finished image: an image-to-image request for the image at twice its size.

Plain resampling is that request at strength 0 (the source, Lanczos-resized to the
canvas, kept as it is: no model runs); "and repaint" runs a low-strength pass with
the image's own recipe (prompt, seed, sampler, steps), which redraws the detail a
resize can only blur. Both go through the queue like any generation, so the result
lands in the history with its recipe.
"""
from __future__ import annotations

from pathlib import Path

from engine.img2img.images import ImageProblem, read_image
from engine.img2img.store import SourceStore
from engine.request import MAX_SIDE, SIDE_STEP, GenerationRequest, Source

# Low enough that the picture stays the one upscaled, high enough to redraw its edges
# (A1111's SD upscale script suggests 0.2-0.4).
REPAINT_STRENGTH = 0.3
FACTOR = 2


def upscale_request(store: SourceStore, path: Path, recipe: GenerationRequest, repaint: bool,
                    factor: int = FACTOR) -> GenerationRequest:
    """The request that upscales the image at `path` by `factor`, its source stored in `store`.
    Raises ImageProblem (a sentence) when the result would be larger than a canvas may be."""
    pixels = read_image(path)[..., :3]
    height, width = pixels.shape[:2]
    target = tuple(max(SIDE_STEP, int(round(side * factor / SIDE_STEP)) * SIDE_STEP)
                   for side in (width, height))
    if max(target) > MAX_SIDE:
        raise ImageProblem(f"{path.name} is {width}\u00d7{height}; twice that is {target[0]}\u00d7"
                           f"{target[1]}, and image to image makes at most {MAX_SIDE} pixels a side. "
                           "Use Hires fix when generating to reach larger sizes.")
    source = Source(image=store.put(pixels), strength=REPAINT_STRENGTH if repaint else 0.0)
    return recipe.replace(width=target[0], height=target[1], source=source, hires=None, batch=1)
