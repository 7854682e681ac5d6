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

    def replace(self, **changes) -> "GenerationRequest":
        return dataclasses.replace(self, **changes)

    def steps_to_run(self) -> int:
        """Model evaluations per image: all the steps, or image to image's share of them."""
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
        return cls(**values)

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
                     "source", "clip_skip"):
            problems.extend(check_field(name, getattr(self, name)))
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
    return value


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
