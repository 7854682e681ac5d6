"""The bodies A1111's API takes and gives, with its field names and defaults
(its modules/api/models.py builds them from its processing classes; these are ours).

Fields we do not use are accepted and ignored, as A1111 ignores script arguments it
does not know; the few whose silent loss would mislead are refused in mapping.py.
Only types and the API's own caps are checked here: a value's range is the request's
rule (engine/request.py), checked once, there.
"""
from __future__ import annotations

from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field

from engine.api.limits import MAX_INIT_IMAGES, MAX_ITERATIONS, MAX_NAME_CHARS
from engine.recipe import MAX_CHUNK_CHARS

Name = Optional[str]


def _name(default: Name = None):
    return Field(default, max_length=MAX_NAME_CHARS)


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Generation(_Body):
    """What txt2img and img2img share."""
    prompt: str = Field("", max_length=MAX_CHUNK_CHARS)
    negative_prompt: str = Field("", max_length=MAX_CHUNK_CHARS)
    styles: Optional[list[str]] = None
    seed: int = -1
    subseed: int = -1
    subseed_strength: float = 0.0
    sampler_name: Name = _name()
    sampler_index: Name = _name("Euler")
    scheduler: Name = _name()
    batch_size: int = 1
    n_iter: int = Field(1, ge=1, le=MAX_ITERATIONS)
    steps: int = 50
    cfg_scale: float = 7.0
    width: int = 512
    height: int = 512
    denoising_strength: Optional[float] = None
    override_settings: Optional[dict[str, Any]] = None
    override_settings_restore_afterwards: bool = True
    script_name: Name = _name()
    script_args: list[Any] = Field(default_factory=list)
    alwayson_scripts: dict[str, Any] = Field(default_factory=dict)
    send_images: bool = True
    save_images: bool = False
    # Accepted for clients that send them; they change nothing here.
    restore_faces: Optional[bool] = None
    tiling: Optional[bool] = None
    do_not_save_samples: bool = False
    do_not_save_grid: bool = False
    eta: Optional[float] = None


class Txt2Img(Generation):
    enable_hr: bool = False
    hr_scale: float = 2.0
    hr_upscaler: Name = _name()
    hr_second_pass_steps: int = 0
    hr_resize_x: int = 0
    hr_resize_y: int = 0
    hr_checkpoint_name: Name = _name()
    hr_sampler_name: Name = _name()
    hr_scheduler: Name = _name()
    hr_prompt: str = Field("", max_length=MAX_CHUNK_CHARS)
    hr_negative_prompt: str = Field("", max_length=MAX_CHUNK_CHARS)
    firstphase_width: int = 0
    firstphase_height: int = 0


class Img2Img(Generation):
    init_images: list[str] = Field(default_factory=list, max_length=MAX_INIT_IMAGES)
    resize_mode: int = 0
    mask: Optional[str] = None
    mask_blur: Optional[int] = None
    mask_blur_x: int = 4
    mask_blur_y: int = 4
    inpainting_fill: int = 0
    inpaint_full_res: bool = True
    inpaint_full_res_padding: int = 0
    inpainting_mask_invert: int = 0
    initial_noise_multiplier: Optional[float] = None
    image_cfg_scale: Optional[float] = None
    include_init_images: bool = False


class ImageResponse(BaseModel):
    images: list[str]
    parameters: dict[str, Any]
    info: str


class PngInfoBody(_Body):
    image: str


class ProgressResponse(BaseModel):
    progress: float
    eta_relative: float
    state: dict[str, Any]
    current_image: Optional[str] = None
    textinfo: Optional[str] = None
