"""Hires fix: the first pass at the asked size, an upscale, and image to image at the new size.

As A1111's StableDiffusionProcessingTxt2Img: the second pass starts from the
upscaled first pass (its latent resized, or its pixels decoded, resized and
encoded again), noised with fresh seeded noise of the new size to the level
the denoising strength picks, and runs exactly `hires.steps` steps (0: as many
as the first pass) of a schedule stretched to steps / strength.

Both passes run through the one step loop (engine/sampler.py) and report as one
job: step k of first-pass steps + second-pass steps, previews from each, a
cancel within one step of either.
"""
from __future__ import annotations

import time
from typing import Callable, Optional

import numpy as np

from engine import sampler
from engine.backends.base import DiffusionBackend
from engine.events import CancelToken, Progress, ProgressCallback
from engine.hires.upscale import centre_crop, resize_latent, resize_pixels
from engine.request import GenerationRequest

# (width, height) -> the model built for that size, with the request's networks on it.
BackendAt = Callable[[int, int], DiffusionBackend]


def run(request: GenerationRequest, backend_at: BackendAt,
        on_progress: Optional[ProgressCallback] = None, cancel: Optional[CancelToken] = None,
        batched_guidance: Optional[bool] = None) -> sampler.SamplerOutput:
    """The images of a request with `hires` set, at its output size."""
    hires = request.hires
    if hires is None:
        raise ValueError("run() is for requests with a hires fix.")
    report = on_progress or (lambda progress: None)
    plain = request.replace(hires=None)
    first_steps = request.steps
    schedule = hires.schedule(first_steps)
    total = request.steps_to_run()
    timings: dict[str, float] = {}

    backend = backend_at(request.width, request.height)  # building is the engine's "loading"
    started = time.perf_counter()
    first = sampler.sample(backend, plain, report, cancel, batched_guidance,
                           part=sampler.Pass(0, total, (first_steps, 0), decode=not hires.in_latent))
    _merge(timings, first.timings, "first_pass")
    timings["first_pass"] = time.perf_counter() - started
    if cancel is not None and cancel.cancelled:
        raise sampler.Cancelled()

    width, height = hires.target_size(request.width, request.height)
    up_width, up_height = hires.upscaled_size(request.width, request.height)
    first_latent, first_images = first.latent, first.images
    del first
    report(Progress("loading", first_steps, total))
    backend = backend_at(width, height)  # built (or taken from the cache) for the new size
    started = time.perf_counter()
    lh, lw = backend.latent_shape()[:2]
    if hires.in_latent:
        # The upscaled latent covers (up_width, up_height); the model's is of (width, height).
        up_lh, up_lw = round(lh * up_height / height), round(lw * up_width / width)
        start = centre_crop(resize_latent(first_latent, up_lh, up_lw, hires.upscaler), lh, lw)
    else:
        pixels = centre_crop(resize_pixels(first_images, up_height, up_width, hires.upscaler),
                             height, width)
        start = np.asarray(backend.encode_image(np.ascontiguousarray(pixels)), np.float32)
    timings["upscale"] = time.perf_counter() - started
    if cancel is not None and cancel.cancelled:
        raise sampler.Cancelled()

    started = time.perf_counter()
    second = sampler.sample(backend, plain.replace(width=width, height=height), report, cancel,
                            batched_guidance, part=sampler.Pass(first_steps, total, schedule, start))
    _merge(timings, second.timings, "second_pass")
    timings["second_pass"] = time.perf_counter() - started
    # The runner's ETA and the CLI read "decoding" for the decode that ends the job.
    timings["decoding"] = second.timings.get("decoding", 0.0)
    return sampler.SamplerOutput(second.images, timings, second.latent)


def _merge(timings: dict[str, float], part: dict[str, float], prefix: str) -> None:
    for key, seconds in part.items():
        timings[f"{prefix}_{key}"] = seconds
        timings[key] = timings.get(key, 0.0) + seconds
