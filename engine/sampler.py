"""The step loop every model and sampler shares: encode, seeded noise, guided steps, decode.

The sampler the request names (engine.samplers) says what the network sees at
each step and how the latent moves on; this loop does the rest the same way
for all of them: guidance, progress, previews from each step's predicted clean
latent, timings.

It reports each step through `on_progress` and checks the cancel token between
steps and between phases, so a cancel lands within one step and never leaves a
half-finished image behind.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Optional

import numpy as np

from engine import samplers
from engine.noise import initial_noise
from engine.backends.base import DiffusionBackend, same_length
from engine.events import CancelToken, Progress, ProgressCallback
from engine.img2img.canvas import Canvas
from engine.request import GenerationRequest


class Cancelled(Exception):
    pass


@dataclass
class SamplerOutput:
    images: Optional[np.ndarray]  # uint8 (B, H, W, 3); None when not decoded
    timings: dict[str, float]
    latent: Optional[np.ndarray] = None  # the final latent (B, h, w, c)


@dataclass(frozen=True)
class Pass:
    """One pass of a job that runs several (hires fix: the first pass, then the second
    at the larger size), so progress counts them as one: this pass's steps are reported
    as `done` + k of `total`. `schedule`: (schedule length, first step run) where the
    request's own steps and strength do not say it; `start`: the clean latent(s) the
    pass starts from, noised to the first step's level (the upscaled first pass)."""
    done: int = 0
    total: Optional[int] = None
    schedule: Optional[tuple[int, int]] = None
    start: Optional[np.ndarray] = None
    decode: bool = True


def default_batched_guidance(backend: Optional[DiffusionBackend] = None) -> bool:
    """One diffusion call on a batch of 2B per step, unless the backend knows that
    KerasCV's two calls of B are faster where it runs (`backend.batched_guidance`)."""
    preferred = getattr(backend, "batched_guidance", None)
    return True if preferred is None else bool(preferred)


def sample(
    backend: DiffusionBackend,
    request: GenerationRequest,
    on_progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelToken] = None,
    batched_guidance: Optional[bool] = None,
    noise: Optional[np.ndarray] = None,
    context: Optional[np.ndarray] = None,
    canvas: Optional[Canvas] = None,
    part: Optional[Pass] = None,
) -> SamplerOutput:
    """`noise` and `context` override the seeded noise and the prompt encoding
    (the equivalence test feeds KerasCV's own). `batched_guidance` None picks
    this device's faster mode. `canvas`: image to image's starting picture and
    mask (engine/img2img/canvas.py), for a request with a source. `part`: where this
    pass stands in a job of several (progress, its own schedule and start)."""
    if batched_guidance is None:
        batched_guidance = default_batched_guidance(backend)
    report = on_progress or (lambda progress: None)
    batch = request.batch
    part = part or Pass()
    length = request.steps
    if part.schedule is not None:
        length, first = part.schedule
        steps = length - first
    else:
        steps = request.steps_to_run()  # what progress counts
        first = request.steps - steps
    done_before = part.done
    total = part.total if part.total is not None else steps
    timings: dict[str, float] = {}

    def check() -> None:
        if cancel is not None and cancel.cancelled:
            raise Cancelled()

    check()
    if canvas is not None and steps == 0:  # strength 0: nothing is repainted
        return SamplerOutput(np.repeat(canvas.pixels[None], batch, axis=0), timings)
    report(Progress("encoding", done_before, total))
    guidance = request.guidance
    # eps_u + guidance * (eps_c - eps_u) is eps_c alone at 1 and eps_u alone at 0: one
    # network call per step instead of two, and only that prompt encoded. (ComfyUI skips the
    # unconditional pass at 1 too; diffusers runs the conditional one alone at any guidance
    # up to 1, 0 included.)
    alone = {1.0: "prompt", 0.0: "negative"}.get(float(guidance))
    started = time.perf_counter()
    unconditional = None
    if context is None and alone != "negative":
        context = _repeat(backend.encode([request.prompt]), batch)
    if alone != "prompt":
        if request.negative_prompt:
            unconditional = _repeat(backend.encode([request.negative_prompt]), batch)
        else:
            unconditional = backend.unconditional(batch)
    if alone is None:
        context, unconditional = same_length(context, unconditional, backend.unconditional(1))
    timings["encoding"] = time.perf_counter() - started
    single = {"prompt": context, "negative": unconditional}.get(alone)
    if batched_guidance and single is None:
        both_contexts = np.concatenate([unconditional, context])
    # Two calls of B, faster together where the backend can (base.PairedGuidance).
    paired = not batched_guidance and hasattr(backend, "denoise_pair")

    # The backend's range of clean images, where it has one (the demo's pixels).
    method = samplers.create(request.sampler, length, request.seeds(),
                             getattr(backend, "clean_range", None))
    if noise is None:
        noise = initial_noise(request.seeds(), backend.latent_shape())
    known = repaint = None
    if part.start is not None:  # as A1111's hires pass: fresh noise of the new size
        latent = method.noised(np.asarray(part.start, np.float32), noise, first)
    elif canvas is None:
        latent = method.start(noise)
    else:
        check()
        started = time.perf_counter()
        known = _repeat(backend.encode_image(canvas.start_pixels()[None]), batch).astype(np.float32)
        timings["image_encoding"] = time.perf_counter() - started
        repaint = canvas.latent_mask(*backend.latent_shape()[:2])  # 1 repaints, 0 keeps
        # The masked area's fill (request.source.inpaint_fill) changes the start only.
        latent = method.noised(canvas.starting_latent(known, repaint, request.seeds()), noise, first)
    started = time.perf_counter()
    preview_seconds = model_seconds = 0.0
    for index in range(first, method.steps):
        check()
        step_started = time.perf_counter()
        t = method.timestep(index)
        seen = method.model_input(latent, index)
        call_started = time.perf_counter()
        if single is not None:
            eps = backend.denoise(seen, t, single)
        elif batched_guidance:
            both = backend.denoise(np.concatenate([seen, seen]), t, both_contexts)
            eps_u, eps_c = both[:batch], both[batch:]
        elif paired:
            eps_u, eps_c = backend.denoise_pair(seen, t, unconditional, context)
        else:
            eps_u = backend.denoise(seen, t, unconditional)
            eps_c = backend.denoise(seen, t, context)
        model_seconds += time.perf_counter() - call_started
        if single is None:
            # In the model's output dtype (float16 under mixed precision), as KerasCV does.
            eps = eps_u + guidance * (eps_c - eps_u)
        eps = eps.astype(np.float32)
        latent, pred_x0 = method.step(latent, eps, index)
        if repaint is not None:  # inpainting: the kept part is the source, at this noise level
            latent = latent * repaint + method.noised(known, noise, index + 1) * (1.0 - repaint)
            pred_x0 = pred_x0 * repaint + known * (1.0 - repaint)
        done = index + 1 - first
        preview = None
        if request.preview:
            preview_started = time.perf_counter()
            preview = backend.preview(pred_x0)
            preview_seconds += time.perf_counter() - preview_started
        report(Progress("denoising", done_before + done, total, preview,
                        time.perf_counter() - step_started))
    timings["denoising"] = time.perf_counter() - started
    timings["preview"] = preview_seconds
    # What the step loop itself costs beyond the network is denoising - model_calls - preview.
    timings["model_calls"] = model_seconds

    if not part.decode:
        return SamplerOutput(None, timings, latent)
    # No cancel check here: once the last step is done, decoding (seconds) is finished
    # rather than throwing the nearly finished images away.
    report(Progress("decoding", done_before + steps, total))
    started = time.perf_counter()
    images = backend.decode(latent)
    if canvas is not None:
        images = canvas.composite(images)
    timings["decoding"] = time.perf_counter() - started
    return SamplerOutput(images, timings, latent)


def _repeat(encoded: np.ndarray, batch: int) -> np.ndarray:
    return np.repeat(np.asarray(encoded), batch, axis=0) if len(encoded) == 1 else np.asarray(encoded)
