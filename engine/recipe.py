"""Recipes from untrusted data: typed, range-checked values, one field at a time.

A PNG's chunks (ours, or another tool's) and old database rows are read
through here. Each field is converted and checked on its own, against the
ranges engine.request states, so a bad seed is dropped and named while the
prompt is kept. A new field is one entry in a table below.
"""
from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from engine import json_file
from engine.request import GenerationRequest, Problem, check_field, checked_value
from engine.samplers import names as sampler_names

# Our own chunks are about a kilobyte; A1111's a few. Anything far larger is not a recipe.
MAX_CHUNK_CHARS = 64 * 1024
# Our JSON is two levels deep. Python's decoder recurses, so depth is checked before it runs.
MAX_JSON_DEPTH = 8
MAX_LABEL_CHARS = 200

REQUEST_FIELDS = tuple(f.name for f in dataclasses.fields(GenerationRequest))


@dataclass
class Recipe:
    """What one source said: checked request values, labels, and what was unusable."""
    values: dict[str, Any] = field(default_factory=dict)  # GenerationRequest field -> value
    labels: dict[str, Any] = field(default_factory=dict)  # model_label, batch_seed, sampler, ...
    problems: list[Problem] = field(default_factory=list)

    def take(self, name: str, value: Any) -> None:
        """Keeps `value` for `name` if it passes; otherwise records why not."""
        if isinstance(value, str) and not _utf8(value):
            self.problems.append(Problem(name, f"{name} is not valid Unicode text."))
            return
        if name in REQUEST_FIELDS:
            found = check_field(name, value)
            if not found:
                self.values[name] = checked_value(name, value)
        else:
            found = _LABEL_CHECKS.get(name, _check_label)(name, value)
            if not found:
                self.labels[name] = value
        self.problems.extend(found)

    def reject(self, name: str, why: str) -> None:
        self.problems.append(Problem(name, why))

    def over(self, fallback: "Recipe") -> "Recipe":
        """This recipe, with `fallback`'s values wherever this one lacks a field or had it wrong."""
        values = {**fallback.values, **self.values}
        labels = {**fallback.labels, **self.labels}
        problems, seen = [], set()
        for problem in self.problems + fallback.problems:
            if problem.field not in values and problem.field not in labels \
                    and problem.field not in seen:
                seen.add(problem.field)
                problems.append(problem)
        return Recipe(values, labels, problems)

    def request(self, base: Optional[GenerationRequest] = None) -> GenerationRequest:
        """These values over `base` (default: a blank request), as one image: batch 1."""
        values = {k: v for k, v in self.values.items() if k != "batch"}
        return (base or GenerationRequest(prompt="")).replace(batch=1, **values)


# ---------------------------------------------------------------- labels (not request fields)

def _utf8(text: str) -> bool:
    """JSON's \\ud800 escapes make strings that no file or database can store."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_label(name: str, value) -> list[Problem]:
    if not isinstance(value, str) or len(value) > MAX_LABEL_CHARS or not _utf8(value):
        return [Problem(name, f"{name} must be text of at most {MAX_LABEL_CHARS} characters.")]
    return []


def _check_seed_label(name: str, value) -> list[Problem]:
    return [Problem(name, p.message) for p in check_field("seed", value)]


_LABEL_CHECKS: dict[str, Callable[[str, Any], list[Problem]]] = {
    "batch_seed": _check_seed_label,
}


# ---------------------------------------------------------------- our JSON chunk

# payload key -> where it goes; "request" is the request's own fields, checked by name.
JSON_LABELS = ("model_label", "batch_seed", "backend", "device", "model_hash", "origin")


def from_json(raw: str) -> Optional[Recipe]:
    """Our `sd_desk` chunk; None (with nothing taken) if it is not our JSON at all."""
    if len(raw) > MAX_CHUNK_CHARS or not json_file.depth_ok(raw, MAX_JSON_DEPTH):
        return None
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("request"), dict):
        return None
    recipe = from_request_dict(payload["request"])
    for name in JSON_LABELS:
        if name in payload and payload[name] is not None:
            recipe.take(name, payload[name])
    return recipe


# What a request dict written before a field existed meant by leaving it out.
BEFORE_THE_FIELD = {"sampler": "ddim",  # every image before samplers was DDIM
                    "hires": None}  # and none had a hires fix


def from_request_dict(data: dict) -> Recipe:
    """A request as a dict (our chunk, or a database row): each known field checked alone."""
    recipe = Recipe()
    data = {**BEFORE_THE_FIELD, **data}
    for name in REQUEST_FIELDS:
        if name in data and name != "batch":
            recipe.take(name, data[name])
    return recipe


def request_from_json(text: Optional[str], base: Optional[GenerationRequest] = None
                      ) -> tuple[Optional[GenerationRequest], list[str]]:
    """A stored request_json as a request (None if unreadable) and the fields it lacked or had wrong."""
    if not text or len(text) > MAX_CHUNK_CHARS or not json_file.depth_ok(text, MAX_JSON_DEPTH):
        return None, []
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None, []
    if not isinstance(data, dict):
        return None, []
    recipe = from_request_dict(data)
    lacking = [name for name in REQUEST_FIELDS if name not in recipe.values and name != "batch"]
    batch = data.get("batch")
    request = recipe.request(base)
    if not check_field("batch", batch):
        request = request.replace(batch=batch)
    return request, lacking


# ---------------------------------------------------------------- A1111 text values

_WHOLE = re.compile(r"[+-]?[0-9]{1,40}")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]{1,20}(?:\.[0-9]{0,30})?|\.[0-9]{1,30})(?:[eE][+-]?[0-9]{1,4})?")
_SIZE = re.compile(r"([0-9]{1,9})\s{0,8}x\s{0,8}([0-9]{1,9})")


class _Unreadable(ValueError):
    pass


def _whole(text: str) -> int:
    text = text.strip()
    if not _WHOLE.fullmatch(text):
        raise _Unreadable("not a whole number")
    return int(text)


def _decimal(text: str) -> float:
    text = text.strip()
    if not _DECIMAL.fullmatch(text):
        raise _Unreadable("not a number")
    return float(text)


def _size(text: str) -> tuple[int, int]:
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise _Unreadable("not WIDTHxHEIGHT")
    return int(match.group(1)), int(match.group(2))


# A1111 key -> (the fields or labels it sets, how to read its text into their values).
# Each value is then checked by `Recipe.take`; the first name is the one a problem is filed under.
A1111_FIELDS: dict[str, tuple[tuple[str, ...], Callable[[str], tuple]]] = {
    "Steps": (("steps",), lambda text: (_whole(text),)),
    "CFG scale": (("guidance",), lambda text: (_decimal(text),)),
    "Seed": (("seed",), lambda text: (_whole(text),)),
    "Size": (("width", "height"), _size),
    "Model": (("model_label",), lambda text: (text,)),
    "Model hash": (("model_hash",), lambda text: (text.strip().lower(),)),
    "Clip skip": (("clip_skip",), lambda text: (_whole(text),)),
}
SCHEDULE_TYPE = "Schedule type"  # A1111 1.9 and later: `Sampler: DPM++ 2M, Schedule type: Karras`


def _sampler(text: str, schedule_type: Optional[str]) -> tuple[str]:
    found = sampler_names.from_a1111(text, schedule_type)
    if found is None:
        shown = text if not schedule_type else f"{text} with schedule type {schedule_type}"
        raise _Unreadable(f"SD Desk has no such sampler ({_short(shown)}); its samplers are "
                          + ", ".join(map(sampler_names.a1111_name, sampler_names.IDS)))
    return (found,)


# A1111's hires fix keys -> the Hires field each sets. "Denoising strength" is the second
# pass's strength where these are present (A1111 writes one key for either use).
HIRES_KEYS = {"Hires upscale": "scale", "Hires resize": "size", "Hires steps": "steps",
              "Hires upscaler": "upscaler", "Denoising strength": "denoise"}
_HIRES_READERS: dict[str, Callable[[str], Any]] = {
    "scale": _decimal, "size": _size, "steps": _whole, "upscaler": lambda text: text,
    "denoise": _decimal}


def _hires_from_pairs(recipe: Recipe, pairs: list[tuple[str, str]]) -> set[str]:
    """Takes A1111's hires fix into `recipe` when its keys are there; the keys it used."""
    found = {key: text for key, text in pairs if key in HIRES_KEYS}
    if not any(key in found for key in ("Hires upscale", "Hires resize", "Hires upscaler")):
        return set()
    values: dict[str, Any] = {}
    for key, text in found.items():
        try:
            value = _HIRES_READERS[HIRES_KEYS[key]](text)
        except _Unreadable as why:
            recipe.reject("hires", f"{key}: {why}: {_short(text)!r}.")
            return set(found)
        if HIRES_KEYS[key] == "size":
            values["width"], values["height"] = value
        else:
            values[HIRES_KEYS[key]] = value
    if "Hires resize" in found:
        values.pop("scale", None)
    recipe.take("hires", values)
    return set(found)


def from_pairs(pairs: list[tuple[str, str]], prompt: str, negative_prompt: str
               ) -> tuple[Recipe, dict[str, str]]:
    """A1111's `Key: value` pairs: the recipe, and every key the table does not know (in order)."""
    recipe = Recipe()
    recipe.take("prompt", prompt)
    recipe.take("negative_prompt", negative_prompt)
    extra: dict[str, str] = {}
    schedule_type = next((text for key, text in pairs if key == SCHEDULE_TYPE), None)
    if not any(key == "Clip skip" for key, _text in pairs):
        recipe.take("clip_skip", 1)  # A1111 leaves the default out: absent is 1, as it reads it
    hires_keys = _hires_from_pairs(recipe, pairs)
    if not hires_keys:
        recipe.take("hires", None)  # absent is off, as A1111 reads it
    for key, text in pairs:
        if key in hires_keys:
            continue
        entry = A1111_FIELDS.get(key)
        if key == "Sampler":
            entry = (("sampler",), lambda text: _sampler(text, schedule_type))
        if entry is None:
            extra[key] = text
            continue
        names, convert = entry
        try:
            values = convert(text)
        except _Unreadable as why:
            extra[key] = text  # kept as text: the details pane can still show it
            recipe.reject(names[0], f"{key}: {why}: {_short(text)!r}." if key != "Sampler"
                          else f"{key}: {why}.")
            continue
        for name, value in zip(names, values):
            recipe.take(name, value)
    return recipe, extra


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"
