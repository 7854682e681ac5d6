"""What a person asks for, and the checks that run before any model is touched."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Callable, Optional

from engine.samplers import names as sampler_names

MAX_TOKENS = 77
MIN_SIDE, MAX_SIDE, SIDE_STEP = 128, 1024, 64
MAX_SEED = 2**32 - 1
STEPS_RANGE = (1, 200)
GUIDANCE_RANGE = (0.0, 30.0)
BATCH_RANGE = (1, 8)
STRENGTH_RANGE = (0.0, 1.0)
MASK_BLUR_RANGE = (0, 64)
# A1111's "Masked content": what the masked area holds before denoising starts.
# "fill": colours from the kept surroundings; "original": the source as it is;
# "latent-noise": noise in the latent; "latent-nothing": zeros in the latent.
INPAINT_FILLS = ("fill", "original", "latent-noise", "latent-nothing")
# Chosen by `benchmark --img2img` (engine/benchmark/inpaint_fills.py) on the demo model:
# at strength 0.75, starting from latent noise drew the prompt's shape in 29% of the
# masked area (its own scene has 37%), from the original 22%, and on a plain white
# image 22% against the original's 7%.
DEFAULT_INPAINT_FILL = "latent-noise"
# Recipes written before the choice existed started from the original.
OLD_INPAINT_FILL = "original"
CLIP_SKIP_RANGE = (1, 12)  # A1111's slider: 1 is the last layer, 12 the first of SD 1.x's twelve
IMAGE_ID_LENGTH = 64  # a stored source image is named by its sha256, in hex
# Hires fix (A1111's ranges): the first pass stays within MAX_SIDE, the second may go
# further; what fits in memory is the decoder's business (it decodes in tiles).
HIRES_SCALE_RANGE = (1.0, 4.0)
HIRES_MAX_SIDE = 2048
HIRES_STEPS_RANGE = (0, 200)  # 0: as many as the first pass
# A1111's upscaler names. The latent ones resize the first pass's latent (torch's
# interpolation modes; antialiasing only matters when shrinking, which hires never does);
# the others decode, resize the pixels and encode again.
LATENT_UPSCALERS = ("Latent", "Latent (antialiased)", "Latent (bicubic)",
                    "Latent (bicubic antialiased)", "Latent (nearest)", "Latent (nearest-exact)")
PIXEL_UPSCALERS = ("Lanczos", "Nearest")
HIRES_UPSCALERS = LATENT_UPSCALERS + PIXEL_UPSCALERS


def upscaler_slug(name: str) -> str:
    """The command line's spelling of an upscaler: "Latent (nearest)" is latent-nearest."""
    return "-".join("".join(c if c.isalnum() else " " for c in name.lower()).split())


def find_upscaler(text: str) -> Optional[str]:
    """A1111's name for an upscaler written either way (its name in any case, or the slug)."""
    wanted = upscaler_slug(text)
    return next((name for name in HIRES_UPSCALERS if upscaler_slug(name) == wanted), None)


def require_upscaler(text: str) -> str:
    """find_upscaler, or ValueError naming the upscalers there are (the CLI and grid axes)."""
    found = find_upscaler(text)
    if found is None:
        raise ValueError(f"no upscaler {text!r}; the upscalers are "
                         + ", ".join(upscaler_slug(n) for n in HIRES_UPSCALERS))
    return found


@dataclass(frozen=True)
class Problem:
    field: str
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Source:
    """Image to image: a stored source image (engine/img2img/store.py names it by its
    content hash) and how to use it. `mask` (also a stored image's hash): white is
    repainted, black kept. `outpaint`: margins (left, top, right, bottom) added around
    the source, in pixels, each a multiple of 64; they are repainted too. `inpaint_fill`
    (one of INPAINT_FILLS): what the masked area and margins start from."""
    image: str
    strength: float = 0.75
    mask: Optional[str] = None
    mask_blur: int = 4
    outpaint: tuple[int, int, int, int] = (0, 0, 0, 0)
    inpaint_fill: str = DEFAULT_INPAINT_FILL

    def replace(self, **changes) -> "Source":
        return dataclasses.replace(self, **changes)

    @property
    def repaints_part(self) -> bool:
        """A mask or margins: the rest of the image is kept as it is."""
        return self.mask is not None or any(self.outpaint)

    @classmethod
    def from_dict(cls, data: dict) -> "Source":
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if isinstance(values.get("outpaint"), list):
            values["outpaint"] = tuple(values["outpaint"])
        values.setdefault("inpaint_fill", OLD_INPAINT_FILL)
        return cls(**values)


@dataclass(frozen=True)
class Hires:
    """A1111's hires fix: after the first pass at the request's size, an upscale (by
    `scale`, or to `width` x `height` where either is set: 0 follows the first pass's
    shape) and an image-to-image pass at that size of `steps` steps (0: the first pass's
    count) at `denoise` strength. `upscaler`: one of HIRES_UPSCALERS."""
    scale: float = 2.0
    width: int = 0
    height: int = 0
    steps: int = 0
    denoise: float = 0.7
    upscaler: str = "Latent"

    def replace(self, **changes) -> "Hires":
        return dataclasses.replace(self, **changes)

    @property
    def resizes(self) -> bool:
        """A size was asked for (A1111's "Hires resize") rather than a factor."""
        return bool(self.width or self.height)

    @property
    def in_latent(self) -> bool:
        return self.upscaler in LATENT_UPSCALERS

    def upscaled_size(self, width: int, height: int) -> tuple[int, int]:
        """What the first pass of `width` x `height` is resized to before any crop: A1111's
        calculate_target_resolution, each side then rounded to our multiple of 64. With
        both sides given the first pass is scaled to cover them and the overflow cropped."""
        if not self.resizes:
            to = (width * self.scale, height * self.scale)
        elif not self.height:
            to = (self.width, self.width * height / width)
        elif not self.width:
            to = (self.height * width / height, self.height)
        elif width / height < self.width / self.height:
            to = (self.width, self.width * height / width)
        else:
            to = (self.height * width / height, self.height)
        return tuple(max(SIDE_STEP, int(round(side / SIDE_STEP)) * SIDE_STEP) for side in to)

    def target_size(self, width: int, height: int) -> tuple[int, int]:
        """The second pass's size (and the image's)."""
        up_w, up_h = self.upscaled_size(width, height)
        if self.width and self.height:
            return min(up_w, self.width), min(up_h, self.height)
        return up_w, up_h

    def second_pass_steps(self, first_pass_steps: int) -> int:
        """A1111 runs exactly this many in the second pass, on a schedule stretched to
        steps / strength, so the strength picks the noise level, not the count."""
        return self.steps or first_pass_steps

    def schedule(self, first_pass_steps: int) -> tuple[int, int]:
        """(schedule length, index of the first step run) of the second pass."""
        steps = self.second_pass_steps(first_pass_steps)
        if self.denoise <= 0:
            return steps, steps
        length = max(steps, int(steps / min(self.denoise, 0.999)))
        return length, length - steps

    @classmethod
    def from_dict(cls, data: dict) -> "Hires":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class GenerationRequest:
    prompt: str
    negative_prompt: str = ""
    seed: int = 0
    # New users' default, chosen by `benchmark --samplers`: at 20 steps closer to the
    # converged image than DDIM at 50 (the README has the table).
    sampler: str = "dpmpp-2m-karras"
    steps: int = 20
    guidance: float = 7.5
    width: int = 512
    height: int = 512
    batch: int = 1
    model: str = "sd-v1.4"
    mixed_precision: bool = False
    xla: bool = False
    preview: bool = True
    source: Optional[Source] = None  # image to image, inpainting, outpainting
    # A1111's "Clip skip": the prompt's context from this many layers before the text
    # encoder's end (1: its last layer), through its final layer norm.
    clip_skip: int = 1
    hires: Optional[Hires] = None  # hires fix: a second pass at a larger size

    def replace(self, **changes) -> "GenerationRequest":
        return dataclasses.replace(self, **changes)

    def steps_to_run(self) -> int:
        """Model evaluations per image: all the steps, or image to image's share of them,
        and a hires fix's second pass."""
        if self.hires is not None:
            length, first = self.hires.schedule(self.steps)
            return self.steps + length - first
        if self.source is None:
            return self.steps
        from engine.samplers.base import first_step
        return self.steps - first_step(self.steps, self.source.strength)

    def seeds(self) -> list[int]:
        """Image i of a batch uses seed + i, so each image can be regenerated alone."""
        return [(self.seed + i) % (MAX_SEED + 1) for i in range(self.batch)]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> "GenerationRequest":
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if isinstance(values.get("source"), dict):
            values["source"] = Source.from_dict(values["source"])
        if isinstance(values.get("hires"), dict):
            values["hires"] = Hires.from_dict(values["hires"])
        return cls(**values)

    def output_size(self) -> tuple[int, int]:
        """The size of the images made: the hires fix's target where there is one."""
        if self.hires is None:
            return self.width, self.height
        return self.hires.target_size(self.width, self.height)

    def validate(
        self, count_tokens: Optional[Callable[[str], int]] = None,
        token_limit: Optional[int] = None
    ) -> list[Problem]:
        """Every problem with this request, each with a message a person can act on.

        `count_tokens` (start and end tokens included) and `token_limit` are the
        chosen model's (engine/prompt_rules.py asks with them); without both the
        prompt length is not checked (Stable Diffusion reads any length, in chunks).
        """
        problems: list[Problem] = []
        for name, label in (("prompt", "Prompt"), ("negative_prompt", "Negative prompt")):
            text = getattr(self, name)
            if check_field(name, text):
                problems.extend(check_field(name, text))
                continue
            bad = text_problem(text)
            if bad:
                problems.append(Problem(name, f"{label} {bad}"))
                continue
            if name == "prompt" and not text.strip():
                problems.append(Problem(name, "Prompt is empty: describe the image you want."))
                continue
            if count_tokens is not None and token_limit is not None and text:
                n = count_tokens(text)
                if n > token_limit:
                    problems.append(Problem(
                        name,
                        f"{label} is {n} tokens long; the limit is {token_limit} "
                        f"(start and end tokens included). Remove {n - token_limit}.",
                    ))
        for name in ("width", "height", "sampler", "steps", "batch", "seed", "guidance", "model",
                     "source", "clip_skip", "hires"):
            problems.extend(check_field(name, getattr(self, name)))
        if self.hires is not None and self.source is not None:
            problems.append(Problem("hires", "Hires fix is for text to image: turn it off for "
                                             "image to image, or upscale the result afterwards."))
        elif isinstance(self.hires, Hires) and not check_field("hires", self.hires) \
                and not _check_side("width", self.width) and not _check_side("height", self.height):
            problems.extend(_check_hires_target(self.hires, self.width, self.height))
        return problems


def check_field(name: str, value) -> list[Problem]:
    """The problem with one field's value, if any: the one place each range is stated.

    Readers of untrusted recipes (PNG chunks, old database rows) ask this per
    field, so a bad value is dropped on its own and named.
    """
    if name in ("width", "height"):
        return _check_side(name, value)
    if name in _INT_FIELDS:
        label, low, high = _INT_FIELDS[name]
        return _check_int(name, label, value, low, high)
    if name == "guidance":
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not GUIDANCE_RANGE[0] <= value <= GUIDANCE_RANGE[1]:
            return [Problem(
                "guidance",
                f"Guidance scale must be a number from {GUIDANCE_RANGE[0]:g} to "
                f"{GUIDANCE_RANGE[1]:g}; got {value!r}.",
            )]
        return []
    if name == "sampler":
        if isinstance(value, str) and value in sampler_names.SAMPLERS:
            return []
        return [Problem("sampler", f"No sampler {value!r}: choose one of "
                                   f"{', '.join(sampler_names.IDS)}.")]
    if name == "model":
        return [] if isinstance(value, str) and value else [Problem("model", "Choose a model.")]
    if name in ("prompt", "negative_prompt"):
        label = "Prompt" if name == "prompt" else "Negative prompt"
        return [] if isinstance(value, str) else [Problem(name, f"{label} must be text.")]
    if name == "source":
        return _check_source(value)
    if name == "hires":
        return _check_hires(value)
    if name in ("mixed_precision", "xla", "preview"):
        return [] if isinstance(value, bool) else [Problem(name, f"{name} must be true or false.")]
    return [Problem(name, f"{name} is not a setting of a request.")]


_INT_FIELDS = {"steps": ("Steps", *STEPS_RANGE), "batch": ("Batch size", *BATCH_RANGE),
               "seed": ("Seed", 0, MAX_SEED), "clip_skip": ("Clip skip", *CLIP_SKIP_RANGE)}


def checked_value(name: str, value):
    """A value that passed `check_field`, as the request holds it (a recipe's JSON gives
    guidance as an int and the source as a dict)."""
    if name == "guidance":
        return float(value)
    if name == "source" and isinstance(value, dict):
        return Source.from_dict(value)
    if name == "hires" and isinstance(value, dict):
        hires = Hires.from_dict(value)
        return hires.replace(scale=float(hires.scale), denoise=float(hires.denoise))
    return value


def _check_hires(value) -> list[Problem]:
    if value is None:
        return []
    if isinstance(value, dict):
        known = {f.name for f in dataclasses.fields(Hires)}
        if set(value) - known:
            return [Problem("hires", "The hires fix settings are not readable (unknown: "
                                     f"{', '.join(map(str, sorted(set(value) - known)))}).")]
        value = Hires.from_dict(value)
    if not isinstance(value, Hires):
        return [Problem("hires", "The hires fix settings are not readable.")]
    problems = []
    low, high = HIRES_SCALE_RANGE
    if not value.resizes and not _number_in(value.scale, low, high):
        problems.append(Problem("hires_scale", f"Hires upscale must be a number from {low:g} to "
                                               f"{high:g}; got {value.scale!r}."))
    for name, side in (("width", value.width), ("height", value.height)):
        if isinstance(side, bool) or not isinstance(side, int) or side < 0 or side > HIRES_MAX_SIDE \
                or side % SIDE_STEP or 0 < side < MIN_SIDE:
            problems.append(Problem(f"hires_{name}", f"Hires resize {name} must be 0 (follow the "
                                    f"image's shape) or a multiple of {SIDE_STEP} from {MIN_SIDE} to "
                                    f"{HIRES_MAX_SIDE}; got {side!r}."))
    problems.extend(Problem("hires_steps", p.message) for p in
                    _check_int("hires_steps", "Hires steps", value.steps, *HIRES_STEPS_RANGE))
    if not _number_in(value.denoise, *STRENGTH_RANGE):
        problems.append(Problem("hires_denoise", f"Denoising strength must be a number from "
                                                 f"{STRENGTH_RANGE[0]:g} to {STRENGTH_RANGE[1]:g}; "
                                                 f"got {value.denoise!r}."))
    if value.upscaler not in HIRES_UPSCALERS:
        problems.append(Problem("hires_upscaler", f"No upscaler {value.upscaler!r}: choose one of "
                                                  f"{', '.join(HIRES_UPSCALERS)}."))
    return problems


def _check_hires_target(hires: Hires, width: int, height: int) -> list[Problem]:
    """The second pass's size, which only the whole request knows."""
    target = hires.target_size(width, height)
    upscaled = hires.upscaled_size(width, height)
    if max(upscaled) > HIRES_MAX_SIDE:
        return [Problem("hires", f"Hires fix would make {upscaled[0]}x{upscaled[1]}; the largest "
                                 f"side it makes is {HIRES_MAX_SIDE}: use a smaller upscale or size.")]
    if target[0] < width or target[1] < height:
        return [Problem("hires", f"Hires resize {target[0]}x{target[1]} is smaller than the first "
                                 f"pass ({width}x{height}): hires fix only enlarges.")]
    return []


def _number_in(value, low: float, high: float) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and low <= value <= high


def _check_source(value) -> list[Problem]:
    if value is None:
        return []
    if isinstance(value, dict):
        known = {f.name for f in dataclasses.fields(Source)}
        unknown = sorted(set(value) - known)
        if unknown or "image" not in value:
            return [Problem("source", "The source image's settings are not readable"
                                      + (f" (unknown: {', '.join(map(str, unknown))})." if unknown else "."))]
        try:
            value = Source.from_dict(value)
        except TypeError:
            return [Problem("source", "The source image's settings are not readable.")]
    if not isinstance(value, Source):
        return [Problem("source", "The source image's settings are not readable.")]
    problems = []
    for name, stored in (("image", value.image), ("mask", value.mask)):
        if stored is None and name == "mask":
            continue
        if not _is_image_id(stored):
            problems.append(Problem("source", f"The source {name} is not a stored image's name."))
    strength = value.strength
    if isinstance(strength, bool) or not isinstance(strength, (int, float)) \
            or not STRENGTH_RANGE[0] <= strength <= STRENGTH_RANGE[1]:
        problems.append(Problem("strength", f"Strength must be a number from {STRENGTH_RANGE[0]:g} "
                                            f"to {STRENGTH_RANGE[1]:g}; got {strength!r}."))
    problems.extend(Problem("mask_blur", p.message) for p in
                    _check_int("mask_blur", "Mask blur", value.mask_blur, *MASK_BLUR_RANGE))
    margins = value.outpaint
    if not (isinstance(margins, tuple) and len(margins) == 4
            and all(isinstance(m, int) and not isinstance(m, bool) for m in margins)
            and all(m >= 0 and m % SIDE_STEP == 0 for m in margins)):
        problems.append(Problem("outpaint", "Outpaint margins are four whole numbers (left, top, "
                                            f"right, bottom), each a multiple of {SIDE_STEP}; "
                                            f"got {margins!r}."))
    if value.inpaint_fill not in INPAINT_FILLS:
        problems.append(Problem("inpaint_fill", f"Masked content {value.inpaint_fill!r} is not one of "
                                                f"{', '.join(INPAINT_FILLS)}."))
    return problems


def _is_image_id(value) -> bool:
    return isinstance(value, str) and len(value) == IMAGE_ID_LENGTH \
        and all(c in "0123456789abcdef" for c in value)


def text_problem(text: str) -> Optional[str]:
    """Why `text` is not valid Unicode, or None. Arguments and file names that were not
    UTF-8 reach Python as lone surrogates (surrogateescape), which no encoder accepts."""
    try:
        text.encode("utf-8")
        return None
    except UnicodeEncodeError as error:
        raw = text[error.start:error.end]
        if all(0xDC80 <= ord(c) <= 0xDCFF for c in raw):  # bytes Python could not decode
            shown = " ".join(f"0x{ord(c) - 0xDC00:02x}" for c in raw[:4])
            return (f"is not valid UTF-8 text (byte {shown} at character {error.start + 1}); "
                    "check the encoding of the terminal or script that sent it.")
        return f"holds an invalid character ({ascii(raw[:4])}) at character {error.start + 1}."


def nearest_side(value: int) -> int:
    snapped = int(round(value / SIDE_STEP)) * SIDE_STEP
    return max(MIN_SIDE, min(MAX_SIDE, snapped))


def _check_side(name: str, value) -> list[Problem]:
    label = name.capitalize()
    if isinstance(value, bool) or not isinstance(value, int):
        return [Problem(name, f"{label} must be a whole number of pixels; got {value!r}.")]
    if value < MIN_SIDE or value > MAX_SIDE or value % SIDE_STEP:
        return [Problem(
            name,
            f"{label} {value} is not supported: use a multiple of {SIDE_STEP} from "
            f"{MIN_SIDE} to {MAX_SIDE}, such as {nearest_side(value)}.",
        )]
    return []


def _check_int(name: str, label: str, value, low: int, high: int) -> list[Problem]:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        return [Problem(name, f"{label} must be a whole number from {low} to {high}; got {value!r}.")]
    return []
