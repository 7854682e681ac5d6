"""Grid axes: `--grid NAME=V1,V2,...`, each a list of values that change one part of a request.

Values are split like one CSV row, so a value holding a comma is written in
double quotes: `--grid 'prompt=cat,"red, fluffy cat"'`.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from typing import Callable

from engine.batch.errors import BatchError
from engine.request import GenerationRequest

PROMPT_SR = "prompt"


@dataclass(frozen=True)
class Axis:
    """`values` are already typed (ints for steps, (w, h) for size, text for the rest)."""
    name: str  # canonical: one of AXIS_NAMES
    values: tuple
    texts: tuple[str, ...]  # as the person wrote them, for labels and the grid's recipe

    def apply(self, request: GenerationRequest, index: int) -> GenerationRequest:
        return _KINDS[self.name].apply(request, self.values[index], self.values[0])

    def label(self, index: int) -> str:
        kind = _KINDS[self.name]
        return kind.caption(self.texts[index]) if kind.caption else self.texts[index]

    def describe(self) -> dict:
        return {"name": self.name, "values": list(self.texts),
                "labels": [self.label(i) for i in range(len(self.texts))]}


@dataclass(frozen=True)
class _Kind:
    convert: Callable[[str], object]  # raises ValueError with a message for the person
    apply: Callable[[GenerationRequest, object, object], GenerationRequest]
    caption: Callable[[str], str] | None = None


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a whole number") from None


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None


def _size(text: str) -> tuple[int, int]:
    parts = text.lower().split("x")
    try:
        sides = [int(p) for p in parts]
    except ValueError:
        sides = []
    if len(sides) not in (1, 2):
        raise ValueError(f"{text!r} is not a size: write WIDTHxHEIGHT (512x768) or one side (512)")
    return (sides[0], sides[-1])


def _model(text: str) -> str:
    from engine.models import registry
    if text not in registry.all_model_ids():
        raise ValueError(f"no model {text!r}; the models are {', '.join(registry.all_model_ids())}")
    return text


def _text(text: str) -> str:
    return text


def _sampler(text: str) -> str:
    """Our id or A1111's name (`Euler a`, `DPM++ 2M Karras`)."""
    from engine.samplers import names
    found = names.from_either(text)
    if found is None:
        raise ValueError(names.unknown_message(text))
    return found


def _a1111(sampler: str) -> str:
    from engine.samplers import names
    return names.a1111_name(sampler)


def _upscaler(text: str) -> str:
    from engine.request import require_upscaler
    return require_upscaler(text)


def _hires(request: GenerationRequest, **changes) -> GenerationRequest:
    from engine.request import Hires
    return request.replace(hires=(request.hires or Hires()).replace(**changes))


def _replace_prompt(request: GenerationRequest, value: str, first: str) -> GenerationRequest:
    # Like A1111's Prompt S/R: every occurrence, in the negative prompt as well.
    return request.replace(prompt=request.prompt.replace(first, value),
                           negative_prompt=request.negative_prompt.replace(first, value))


_KINDS: dict[str, _Kind] = {
    "steps": _Kind(_whole, lambda r, v, _: r.replace(steps=v), lambda t: f"Steps: {t}"),
    "guidance": _Kind(_number, lambda r, v, _: r.replace(guidance=v),
                      lambda t: f"Guidance: {t}"),
    "seed": _Kind(_whole, lambda r, v, _: r.replace(seed=v), lambda t: f"Seed: {t}"),
    "size": _Kind(_size, lambda r, v, _: r.replace(width=v[0], height=v[1]),
                  lambda t: f"Size: {_size(t)[0]}x{_size(t)[1]}"),
    "model": _Kind(_model, lambda r, v, _: r.replace(model=v), lambda t: f"Model: {t}"),
    "sampler": _Kind(_sampler, lambda r, v, _: r.replace(sampler=v),
                     lambda t: f"Sampler: {_a1111(_sampler(t))}"),
    "clip-skip": _Kind(_whole, lambda r, v, _: r.replace(clip_skip=v), lambda t: f"Clip skip: {t}"),
    # Hires fix axes turn it on (with its defaults) where the batch's request has it off.
    "hires-scale": _Kind(_number, lambda r, v, _: _hires(r, scale=v, width=0, height=0),
                         lambda t: f"Hires upscale: {t}"),
    "hires-denoise": _Kind(_number, lambda r, v, _: _hires(r, denoise=v),
                           lambda t: f"Denoising strength: {t}"),
    "hires-steps": _Kind(_whole, lambda r, v, _: _hires(r, steps=v), lambda t: f"Hires steps: {t}"),
    "hires-upscaler": _Kind(_upscaler, lambda r, v, _: _hires(r, upscaler=v),
                            lambda t: f"Hires upscaler: {_upscaler(t)}"),
    PROMPT_SR: _Kind(_text, _replace_prompt),
}
ALIASES = {"cfg": "guidance", "cfg-scale": "guidance", "clip_skip": "clip-skip", "clipskip": "clip-skip", "prompt-sr": PROMPT_SR, "sr": PROMPT_SR,
           "prompt_sr": PROMPT_SR, "hires_scale": "hires-scale", "hr-scale": "hires-scale",
           "hires_denoise": "hires-denoise", "denoising-strength": "hires-denoise",
           "hires_steps": "hires-steps", "hires_upscaler": "hires-upscaler"}
AXIS_NAMES = tuple(_KINDS)


def parse_axis(spec: str) -> Axis:
    """One `NAME=V1,V2,...` option; BatchError names the axis and the bad value."""
    name, sep, rest = spec.partition("=")
    name = name.strip().lower()
    name = ALIASES.get(name, name)
    shown = f"--grid {spec}"
    if not sep or not name:
        raise BatchError([f"{shown}: write NAME=V1,V2,... with NAME one of "
                          f"{', '.join(AXIS_NAMES)}."])
    if name not in _KINDS:
        raise BatchError([f"{shown}: no axis {name!r}; the axes are {', '.join(AXIS_NAMES)}."])
    if any(ord(c) < 32 or ord(c) == 127 for c in rest):
        raise BatchError([f"--grid {spec!r}: a value holds a line break or another control "
                          "character; write the values on one line (NAME=V1,V2,...)."])
    rows = list(csv.reader([rest], skipinitialspace=True)) if rest.strip() else [[]]
    texts = tuple(t.strip() for t in rows[0])
    if not texts or any(not t for t in texts):
        raise BatchError([f"{shown}: every value must be non-empty (V1,V2,...)."])
    problems, values = [], []
    for text in texts:
        try:
            values.append(_KINDS[name].convert(text))
        except ValueError as error:
            problems.append(f"{shown}: {error}.")
    if len(set(texts)) != len(texts):
        problems.append(f"{shown}: a value is repeated.")
    if problems:
        raise BatchError(problems)
    return Axis(name, tuple(values), texts)


def parse_axes(specs: list[str]) -> list[Axis]:
    """Every `--grid` option, each axis at most once; all problems at once."""
    axes, problems, seen = [], [], set()
    for spec in specs:
        try:
            axis = parse_axis(spec)
        except BatchError as error:
            problems.extend(error.problems)
            continue
        if axis.name in seen:
            problems.append(f"--grid {spec}: the {axis.name} axis is given twice.")
        seen.add(axis.name)
        axes.append(axis)
    if problems:
        raise BatchError(problems)
    return axes
