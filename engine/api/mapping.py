"""A1111's txt2img and img2img bodies as our GenerationRequests: one per `n_iter`, each a
batch of `batch_size`, the seeds following on as A1111's do (iteration i starts at
seed + i * batch_size). Every value is judged by the request's own checks
(engine/prompt_rules.prompt_problems, engine/request.check_field) and a problem is
named by the A1111 field the client sent."""
from __future__ import annotations

import base64
import binascii
import os
import secrets
import tempfile
from pathlib import Path
from typing import Optional

import numpy as np

from engine.api import catalogue
from engine.api.errors import ApiProblem
from engine.api.limits import MAX_IMAGES_PER_CALL, MAX_SOURCE_PIXELS
from engine.api.schemas import Generation, Img2Img, Txt2Img
from engine.request import INPAINT_FILLS, MAX_SEED, GenerationRequest, Problem, Source, check_field

# Our request's field (or a Problem's field) -> where A1111 clients set it.
A1111_FIELD = {
    "sampler": "sampler_name", "guidance": "cfg_scale", "batch": "batch_size",
    "model": ("override_settings", "sd_model_checkpoint"),
    "clip_skip": ("override_settings", "CLIP_stop_at_last_layers"),
    "source": "init_images", "outpaint": "init_images", "strength": "denoising_strength",
    "inpaint_fill": "inpainting_fill", "hires": "enable_hr", "hires_scale": "hr_scale",
    "hires_width": "hr_resize_x", "hires_height": "hr_resize_y",
    "hires_steps": "hr_second_pass_steps", "hires_denoise": "denoising_strength",
    "hires_upscaler": "hr_upscaler",
}


def where(problem: Problem):
    return A1111_FIELD.get(problem.field, problem.field)


def txt2img_requests(body: Txt2Img, current_model: str,
                     clip_skip: int = 1) -> list[GenerationRequest]:
    """`current_model` and `clip_skip`: the options in force (A1111's sd_model_checkpoint and
    CLIP_stop_at_last_layers), which the body's override_settings may override."""
    request = _base_request(body, current_model, clip_skip)
    request = request.replace(**_hires(body, request))
    _judge(request)
    return _iterations(request, body.n_iter)


def img2img_requests(body: Img2Img, current_model: str, sources,
                     clip_skip: int = 1) -> list[GenerationRequest]:
    """`sources`: the SourceStore the queue's engine reads source images from. Nothing is
    stored there until every other value has passed."""
    request = _base_request(body, current_model, clip_skip)
    _judge(request)
    if not body.init_images:
        raise ApiProblem.one("init_images", "Image to image needs an image: send one in "
                                            "init_images, as base64.")
    if len(body.init_images) > 1:
        raise ApiProblem.one("init_images", "SD Desk repaints one image a call: send one in "
                                            "init_images, and a call per image.")
    if body.resize_mode != 0:
        raise ApiProblem.one("resize_mode", "Only resize mode 0 (just resize) is supported: "
                                            "the image is resized to width x height.")
    if body.inpainting_fill not in range(len(INPAINT_FILLS)):
        raise ApiProblem.one("inpainting_fill", "inpainting_fill is 0 (fill), 1 (original), "
                                                "2 (latent noise) or 3 (latent nothing).")
    strength = 0.75 if body.denoising_strength is None else body.denoising_strength
    blur = body.mask_blur if body.mask_blur is not None else body.mask_blur_x
    settings = Source("0" * 64, strength=strength, mask="0" * 64 if body.mask else None,
                      mask_blur=blur, inpaint_fill=INPAINT_FILLS[body.inpainting_fill])
    problems = [p for p in check_field("source", settings)]
    if problems:
        raise ApiProblem([(where(p), p.message) for p in problems])
    size = (request.width, request.height)
    image = _decoded(body.init_images[0], ("init_images", 0), size)
    mask = None
    if body.mask:
        from engine.img2img.images import mask_from_pixels
        grey = mask_from_pixels(_decoded(body.mask, "mask", size))
        mask = 255 - grey if body.inpainting_mask_invert else grey
    from engine.img2img.images import ImageProblem
    from engine.img2img.prepare import prepare
    try:
        prepared = prepare(sources, image, mask, strength=strength, mask_blur=blur,
                           inpaint_fill=settings.inpaint_fill)
    except ImageProblem as error:
        raise ApiProblem.one("mask" if body.mask else "init_images", str(error)) from None
    request = request.replace(source=prepared.source, width=prepared.width, height=prepared.height)
    _judge(request)
    return _iterations(request, body.n_iter)


def _base_request(body: Generation, current_model: str, clip_skip: int) -> GenerationRequest:
    _refuse_scripts(body)
    if body.batch_size * body.n_iter > MAX_IMAGES_PER_CALL:
        raise ApiProblem.one("n_iter", f"batch_size x n_iter is {body.batch_size * body.n_iter}; "
                                       f"one call makes at most {MAX_IMAGES_PER_CALL} images.")
    overrides = body.override_settings or {}
    model = current_model
    wanted = overrides.get("sd_model_checkpoint")
    if wanted:
        found = catalogue.find_model(wanted) if isinstance(wanted, str) else None
        if found is None:
            raise ApiProblem.one(("override_settings", "sd_model_checkpoint"), no_model_message(wanted))
        model = found.id
    clip_skip = overrides.get("CLIP_stop_at_last_layers", clip_skip)
    name_field = "sampler_name" if body.sampler_name else "sampler_index"
    name = body.sampler_name or body.sampler_index or "Euler"
    sampler = catalogue.sampler_id(name, body.scheduler)
    if sampler is None:
        scheduled = f" with schedule type {body.scheduler!r}" if body.scheduler else ""
        raise ApiProblem.one(name_field, f"SD Desk has no sampler {name!r}{scheduled}; GET "
                                         "/sdapi/v1/samplers and /schedulers list what it has.")
    seed = body.seed if body.seed != -1 else secrets.randbelow(MAX_SEED + 1)
    return GenerationRequest(
        prompt=body.prompt, negative_prompt=body.negative_prompt, seed=seed, sampler=sampler,
        steps=body.steps, guidance=float(body.cfg_scale), width=body.width, height=body.height,
        batch=body.batch_size, model=model, clip_skip=clip_skip)


def no_model_message(wanted) -> str:
    titles = ", ".join(m.title for m in catalogue.listed_models())
    return f"No model {str(wanted)[:200]!r}; the models are: {titles}."


def _refuse_scripts(body: Generation) -> None:
    """Scripts and these switches change what is made: running without one a client asked
    for would hand back images it did not ask for."""
    for field, on, what in (("subseed_strength", body.subseed_strength not in (0, None),
                             "variation seeds"),
                            ("restore_faces", body.restore_faces is True, "face restoration"),
                            ("tiling", body.tiling is True, "tiling")):
        if on:
            raise ApiProblem.one(field, f"SD Desk has no {what}: leave {field} out.")
    if body.script_name:
        raise ApiProblem.one("script_name", f"SD Desk has no script {body.script_name!r}; "
                                            "leave script_name out.")
    if body.alwayson_scripts:
        names = ", ".join(sorted(map(str, body.alwayson_scripts))[:5])
        raise ApiProblem.one("alwayson_scripts", f"SD Desk has no always-on scripts ({names}); "
                                                 "leave alwayson_scripts empty.")


def _hires(body: Txt2Img, request: GenerationRequest) -> dict:
    if not body.enable_hr:
        return {}
    from engine.request import Hires
    for field, value, same in (("hr_checkpoint_name", body.hr_checkpoint_name, ("", "Use same checkpoint")),
                               ("hr_sampler_name", body.hr_sampler_name, ("", "Use same sampler")),
                               ("hr_prompt", body.hr_prompt, ("", request.prompt)),
                               ("hr_negative_prompt", body.hr_negative_prompt,
                                ("", request.negative_prompt))):
        if value not in (None, *same):
            raise ApiProblem.one(field, f"SD Desk's hires fix uses the first pass's settings: "
                                        f"leave {field} out.")
    return {"hires": Hires(scale=float(body.hr_scale), width=body.hr_resize_x,
                           height=body.hr_resize_y, steps=body.hr_second_pass_steps,
                           denoise=0.7 if body.denoising_strength is None else body.denoising_strength,
                           upscaler=body.hr_upscaler or "Latent")}


def _judge(request: GenerationRequest) -> None:
    from engine.jobs.queue import size_problem
    from engine.prompt_rules import prompt_problems, rules_for
    problems = prompt_problems(request, rules_for(request.model))
    if problems:
        raise ApiProblem([(where(p), p.message) for p in problems])
    too_long = size_problem(request)
    if too_long:
        raise ApiProblem.one("prompt", too_long)


def _iterations(request: GenerationRequest, n_iter: int) -> list[GenerationRequest]:
    return [request.replace(seed=(request.seed + i * request.batch) % (MAX_SEED + 1))
            for i in range(n_iter)]


# ---------------------------------------------------------------- images from clients

def decode_base64(text: str, field) -> bytes:
    """A1111's image field: base64, optionally as a data URL. URLs are never fetched."""
    if text.startswith(("http://", "https://")):
        raise ApiProblem.one(field, "SD Desk does not fetch images from URLs: send the image "
                                    "itself, as base64.")
    if text.startswith("data:") and "," in text[:200]:
        text = text.split(",", 1)[1]
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ApiProblem.one(field, "This is not base64: send the image file's bytes in base64 "
                                    "(optionally as a data: URL).") from None


def _decoded(text: str, field, size: tuple[int, int]) -> np.ndarray:
    """uint8 RGBA pixels, resized to `size` (A1111's resize mode 0)."""
    from PIL import Image
    with ImageFile(decode_base64(text, field), field) as path:
        pixels = read_checked(path, field)
    if pixels.shape[1::-1] != size:
        pixels = np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.LANCZOS))
    return pixels


def read_checked(path: Path, field) -> np.ndarray:
    """engine/img2img's reader (Pillow's bomb guard, its pixel and shape limits) under the
    API's tighter cap, which is read from the header before any pixel is decoded."""
    from PIL import Image, UnidentifiedImageError

    from engine.img2img.images import ImageProblem, read_image
    try:
        with Image.open(path) as image:
            width, height = image.size
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise ApiProblem.one(field, "This is not an image SD Desk can read (PNG, JPEG, WebP, "
                                    "BMP, TIFF...).") from None
    if width * height > MAX_SOURCE_PIXELS:
        raise ApiProblem.one(field, f"The image is {width}x{height} pixels; the API takes at most "
                                    f"{MAX_SOURCE_PIXELS // 1_000_000} million: scale it down first.",
                             status=413)
    try:
        return read_image(path, "image")
    except ImageProblem as error:
        raise ApiProblem.one(field, str(error)) from None


class ImageFile:
    """Bytes from a client in a private temporary file, for readers that take a path;
    removed on exit."""

    def __init__(self, data: bytes, field) -> None:
        self.data, self.field = data, field
        self.path: Optional[Path] = None

    def __enter__(self) -> Path:
        handle, name = tempfile.mkstemp(prefix="sd-desk-api-", suffix=".img")
        self.path = Path(name)
        with os.fdopen(handle, "wb") as out:
            out.write(self.data)
        return self.path

    def __exit__(self, *exc) -> None:
        self.path.unlink(missing_ok=True)
