"""KerasCV's own StableDiffusion, wired to the components the engine has built.

Both sides then run the very same weights, so the comparison measures the step
loops and nothing else. KerasCV builds its networks lazily and compiles them
with XLA when its `jit_compile` is set; handing it ours skips both, so the XLA
setting in force is the one the engine gave the components.
"""
from __future__ import annotations

from engine.request import GenerationRequest


def wire(backend) -> object:
    """A keras_cv StableDiffusion (V2 for sd-v2 models) over `backend`'s components."""
    from keras_cv.src.models.stable_diffusion.diffusion_model import DiffusionModelV2
    from keras_cv.src.models.stable_diffusion.stable_diffusion import (StableDiffusion,
                                                                       StableDiffusionV2)

    v2 = isinstance(backend.components.diffusion_model, DiffusionModelV2)
    cls = StableDiffusionV2 if v2 else StableDiffusion
    model = cls(backend.height, backend.width, jit_compile=False)
    if (model.img_height, model.img_width) != (backend.height, backend.width):
        raise ValueError(f"KerasCV only runs multiples of 128; {backend.width}x{backend.height} "
                         "cannot be compared with it.")
    model._text_encoder = backend.components.text_encoder
    model._diffusion_model = backend.components.diffusion_model
    model._decoder = backend.components.decoder
    model._tokenizer = backend.tokenizer
    return model


def generate(model, request: GenerationRequest):
    """KerasCV's text_to_image at the request's settings; uint8 images."""
    return model.text_to_image(request.prompt, negative_prompt=request.negative_prompt or None,
                               batch_size=request.batch, num_steps=request.steps,
                               unconditional_guidance_scale=request.guidance, seed=request.seed)


class _TimedCalls:
    """Stands in for a network inside KerasCV's loop and notes when each call starts
    and ends. KerasCV only calls `predict_on_batch` on it; the cost is one Python
    call per model call, microseconds against seconds."""

    def __init__(self, model, log: list):
        self._model = model
        self._log = log

    def predict_on_batch(self, x):
        import time
        started = time.perf_counter()
        out = self._model.predict_on_batch(x)
        self._log.append((self._model, started, time.perf_counter()))
        return out

    def __getattr__(self, name):
        return getattr(self._model, name)


def timed_generate(model, request: GenerationRequest) -> tuple[object, dict[str, float]]:
    """`generate`, plus where KerasCV's time went: encoding (prompt and unconditional
    context), denoising (first diffusion call to the decoder call), model calls
    inside it, and decoding."""
    import time

    diffusion, decoder = model._diffusion_model, model._decoder
    log: list = []
    model._diffusion_model = _TimedCalls(diffusion, log)
    model._decoder = _TimedCalls(decoder, log)
    try:
        started = time.perf_counter()
        images = generate(model, request)
        ended = time.perf_counter()
    finally:
        model._diffusion_model, model._decoder = diffusion, decoder
    calls = [(s, e) for m, s, e in log if m is diffusion]
    decode_start = next(s for m, s, e in log if m is decoder)
    timings = {"total": ended - started,
               "encoding": calls[0][0] - started,
               "denoising": decode_start - calls[0][0],
               "model_calls": sum(e - s for s, e in calls),
               "decoding": ended - decode_start}
    return images, timings
