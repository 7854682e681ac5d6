"""The recipe every saved PNG carries, and reading it back from any PNG.

`parameters` is the A1111 text chunk other Stable Diffusion tools read;
`sd_desk` is our own JSON with the whole request, so nothing is lost in the
A1111 text format.
"""
from __future__ import annotations

import json
import os
import re
import stat
import struct
import uuid
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Optional

import numpy as np
from PIL import Image, PngImagePlugin

from engine.models.extra_networks import hashes_text
from engine.recipe import MAX_CHUNK_CHARS, Recipe, from_json, from_pairs
from engine.request import GenerationRequest, Problem
from engine.samplers.names import a1111_parameters

JSON_KEY = "sd_desk"
PARAMETERS_KEY = "parameters"
NEGATIVE_PREFIX = "Negative prompt:"
NetworkHashes = Mapping[str, Mapping[str, str]]  # "Lora hashes" -> {name: short hash}


def _quote(value: str) -> str:
    """A1111's own rule: a value holding a comma, colon, quote or newline is written as JSON,
    otherwise `Model: a, b` would split into a model "a" and a stray " b". Spaces at
    either end are quoted too, or a reader's trimming would lose them."""
    if any(c in value for c in ',:"\n\r') or value != value.strip():
        return json.dumps(value, ensure_ascii=False)
    return value


def _number(value: float) -> str:
    """Short where that is exact (7.5, not 7.500000), exact otherwise (`:g` keeps 6 digits)."""
    short = f"{value:g}"
    return short if float(short) == float(value) else repr(float(value))


def format_parameters(request: GenerationRequest, seed: int, model_label: str,
                      model_hash: str = "", network_hashes: Optional[NetworkHashes] = None) -> str:
    """A1111's text. `model_hash`: a checkpoint's short hash, which model sites match on;
    `network_hashes`: the LoRA and embedding files' ("Lora hashes": {name: hash}, ...)."""
    lines = [request.prompt]
    if request.negative_prompt:
        lines.append(f"{NEGATIVE_PREFIX} {request.negative_prompt}")
    lines.append(
        f"Steps: {request.steps}, Sampler: {a1111_parameters(request.sampler)}, CFG scale: {_number(request.guidance)}, "
        f"Seed: {seed}, Size: {request.width}x{request.height}, "
        + (f"Model hash: {model_hash}, " if model_hash else "") + f"Model: {_quote(model_label)}"
        + _source_parameters(request)
        + _hires_parameters(request)
        # A1111 writes it only where it is not the default.
        + (f", Clip skip: {request.clip_skip}" if request.clip_skip != 1 else "")
        + "".join(f", {key}: " + _quote(hashes_text(by_name.items()))
                  for key, by_name in (network_hashes or {}).items() if by_name)
    )
    return "\n".join(lines)


def _source_parameters(request: GenerationRequest) -> str:
    """A1111's keys for image to image: the strength always, the blur where a mask is used."""
    source = request.source
    if source is None:
        return ""
    text = f", Denoising strength: {_number(source.strength)}"
    if source.repaints_part:
        text += f", Mask blur: {source.mask_blur}"
    return text


def _hires_parameters(request: GenerationRequest) -> str:
    """A1111's keys for hires fix: the factor or the size asked for, the second pass's
    steps where they are not the first pass's, the upscaler and the strength."""
    hires = request.hires
    if hires is None:
        return ""
    text = (f", Hires resize: {hires.width}x{hires.height}" if hires.resizes
            else f", Hires upscale: {_number(hires.scale)}")
    if hires.steps:
        text += f", Hires steps: {hires.steps}"
    return text + f", Hires upscaler: {_quote(hires.upscaler)}, Denoising strength: {_number(hires.denoise)}"


def png_info(request: GenerationRequest, seed: int, model_label: str,
             backend: str = "", device: str = "",
             extra: Optional[dict[str, str]] = None, model_hash: str = "",
             network_hashes: Optional[NetworkHashes] = None,
             origin: str = "") -> PngImagePlugin.PngInfo:
    """`backend` and `device`: what the image was made on (recorded when known).
    `extra`: more text chunks by key (a batch grid's axes). `origin`: who queued it
    (Job.origin, "api"), in our chunk only, so a history rebuilt from the files keeps it."""
    info = PngImagePlugin.PngInfo()
    info.add_itxt(PARAMETERS_KEY, format_parameters(request, seed, model_label, model_hash,
                                                    network_hashes))
    payload = {"request": request.replace(seed=seed, batch=1).to_dict(),
               "batch_seed": request.seed, "model_label": model_label}
    payload.update({key: value for key, value in (("backend", backend), ("device", device),
                                                  ("model_hash", model_hash),
                                                  ("network_hashes", network_hashes),
                                                  ("origin", origin)) if value})
    info.add_itxt(JSON_KEY, json.dumps(payload, ensure_ascii=False, sort_keys=True))
    for key, text in (extra or {}).items():
        info.add_itxt(key, text)
    return info


def save_png(path: Path, pixels: np.ndarray, request: GenerationRequest, seed: int,
             model_label: str, backend: str = "", device: str = "",
             extra: Optional[dict[str, str]] = None, model_hash: str = "",
             network_hashes: Optional[NetworkHashes] = None, origin: str = "") -> Path:
    """Writes atomically: a reader never sees a half-written file under `path`.

    Once this returns, the file and its name survive a crash of the process or
    of the machine (file and folder are both fsynced), so a caller may record
    it as saved.
    """
    path = Path(path)
    # Not mkstemp: its 0600 mode would follow the file through os.replace and
    # exported copies; os.open with 0666 lets the umask decide, as for any file.
    tmp = path.parent / f".tmp-{uuid.uuid4().hex}.png"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            Image.fromarray(pixels).save(handle, format="PNG",
                                         pnginfo=png_info(request, seed, model_label,
                                                          backend, device, extra, model_hash,
                                                          network_hashes, origin))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)
    return path


def _fsync_dir(folder: Path) -> None:
    """Makes the rename itself durable; POSIX only (Windows cannot open a folder)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---------------------------------------------------------------- reading
#
# Every byte here may come from anyone: values go through engine.recipe, one field at a
# time, and every loop is linear in the text's length (a crafted `parameters` chunk once
# took a minute to parse).

_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _\-/().+]*")  # fullmatch on one piece: linear
_decoder = json.JSONDecoder()


@dataclass
class ParsedParameters:
    """An A1111 `parameters` text, taken apart. Settings the text lacks, or that did
    not pass their check, are None; why each failed is in `problems`."""
    prompt: str = ""
    negative_prompt: str = ""
    recipe: Recipe = field(default_factory=Recipe)
    extra: dict[str, str] = field(default_factory=dict)  # every other key, in order
    pairs: list[tuple[str, str]] = field(default_factory=list)  # every key as written

    @property
    def steps(self) -> Optional[int]:
        return self.recipe.values.get("steps")

    @property
    def guidance(self) -> Optional[float]:  # "CFG scale"
        return self.recipe.values.get("guidance")

    @property
    def seed(self) -> Optional[int]:
        return self.recipe.values.get("seed")

    @property
    def width(self) -> Optional[int]:
        return self.recipe.values.get("width")

    @property
    def height(self) -> Optional[int]:
        return self.recipe.values.get("height")

    @property
    def model(self) -> Optional[str]:
        return self.recipe.labels.get("model_label")

    @property
    def model_hash(self) -> Optional[str]:
        return self.recipe.labels.get("model_hash")

    @property
    def sampler(self) -> Optional[str]:
        """Our id (`dpmpp-2m-karras`) for the A1111 name, in its old or 1.9 form."""
        return self.recipe.values.get("sampler")

    @property
    def problems(self) -> list[Problem]:
        return self.recipe.problems

    def to_request(self, base: Optional[GenerationRequest] = None,
                   known_models: Iterable[str] = ()) -> GenerationRequest:
        """These settings over `base`; the model only where it names one of ours, by name or,
        for a checkpoint renamed since (or named otherwise by A1111), by its hash."""
        request = self.recipe.request(base)
        known = set(known_models)
        if self.model is not None and self.model in known:
            return request.replace(model=self.model)
        if self.model_hash:
            found = model_by_hash(self.model or "", self.model_hash)
            if found in known:
                return request.replace(model=found)
        return request


def model_by_hash(name: str, short_hash: Optional[str]) -> str:
    """`name` if it names a model; else the library's checkpoint with that A1111 short hash
    (a file renamed since, or named otherwise elsewhere); else `name` unchanged."""
    from engine.models import registry
    try:
        registry.get_model(name)
        return name
    except KeyError:
        pass
    if short_hash:
        from engine.models.library import library
        found = library().find(short_hash)
        if found is not None and found.usable:
            return found.name
    return name


def _split_pairs(line: str) -> Optional[list[tuple[str, str]]]:
    """`Key: value, Key: "quoted, value", ...` as pairs; None if the line is not that.

    A piece with no `Key:` in front is glued back onto the value before it, so
    an unquoted value holding a comma (as older writers produced) stays whole.
    Linear: each search is bounded by the piece it is in, and each character
    is looked at a fixed number of times.
    """
    pairs: list[tuple[str, list[str]]] = []
    pos, end_of_line = 0, len(line)
    while pos < end_of_line:
        comma = line.find(",", pos)
        piece_end = end_of_line if comma < 0 else comma
        colon = line.find(":", pos, piece_end)
        key = line[pos:colon].strip() if colon >= 0 else ""
        if colon < 0 or not _KEY.fullmatch(key):
            if not pairs:
                return None
            pairs[-1][1].append("," + line[pos:piece_end])
            pos = piece_end + 1
            continue
        start = colon + 1
        while start < piece_end and line[start].isspace():
            start += 1
        if line.startswith('"', start):
            try:
                value, after = _decoder.raw_decode(line, start)
            except ValueError:
                return None
            if not isinstance(value, str):
                return None
            while after < end_of_line and line[after].isspace():
                after += 1
            if after < end_of_line and line[after] != ",":
                return None
            pairs.append((key, [value]))
            pos = after + 1
        else:
            pairs.append((key, [line[start:piece_end].strip()]))
            pos = piece_end + 1
    return [(key, "".join(parts).rstrip() if len(parts) > 1 else parts[0]) for key, parts in pairs]


def parse_parameters(text: str) -> ParsedParameters:
    """Reads the A1111 format: prompt lines, an optional `Negative prompt:` line (and
    the lines after it), and a last line of `Key: value` pairs that names `Steps`.

    Our own writer's output comes back exactly, multi-line prompts included; the
    one thing the format cannot carry is a prompt line that itself starts with
    "Negative prompt:" (our JSON chunk carries that).
    """
    # Trailing newlines are other tools' habit; our writer always ends with the pairs.
    lines = text.replace("\r\n", "\n").rstrip("\n").split("\n")
    pairs = _split_pairs(lines[-1].strip()) if lines else None
    if pairs and any(k == "Steps" for k, _ in pairs):
        lines = lines[:-1]
    else:
        pairs = []
    negative = ""
    for index, line in enumerate(lines):
        if line.startswith(NEGATIVE_PREFIX):
            rest = [line[len(NEGATIVE_PREFIX):]] + lines[index + 1:]
            if rest[0].startswith(" "):
                rest[0] = rest[0][1:]
            negative = "\n".join(rest)
            lines = lines[:index]
            break
    prompt = "\n".join(lines)
    recipe, extra = from_pairs(pairs, prompt, negative)
    return ParsedParameters(prompt=prompt, negative_prompt=negative, recipe=recipe, extra=extra,
                            pairs=list(pairs))


@dataclass
class PngMetadata:
    """What a PNG says about how it was made.

    `source` is "sd_desk" (our JSON chunk), "parameters" (A1111 text, possibly
    from another tool) or "none". `request` is this one image's request (its
    own seed, batch 1) with the defaults for whatever the file did not say or
    said wrong, or None when the file carries no recipe. `recipe` holds only
    the values that passed their checks; `problems` says what was dropped.
    """
    source: str
    width: int
    height: int
    request: Optional[GenerationRequest] = None
    seed: Optional[int] = None
    model_label: Optional[str] = None
    model_hash: Optional[str] = None  # A1111's short hash of the checkpoint, where recorded
    batch_seed: Optional[int] = None
    parameters: Optional[ParsedParameters] = None
    parameters_text: Optional[str] = None
    recipe: Optional[Recipe] = None
    problems: list[Problem] = field(default_factory=list)


class UnreadablePng(OSError):
    """A file that is not a PNG we can read, for whatever reason PIL found."""


def _open_regular_file(path: Path):
    """The file, opened for reading, if it is a regular file.

    O_NONBLOCK: a FIFO named *.png opens at once (and is refused) instead of
    waiting forever for a writer; it changes nothing for a regular file.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UnreadablePng(f"{os.fsdecode(path)!r} is not a regular file")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _read_texts(path: Path, verify: bool) -> tuple[int, int, dict[str, str]]:
    try:
        with _open_regular_file(path) as handle, Image.open(handle) as image:
            if image.format != "PNG":
                raise UnreadablePng(f"not a PNG file (it is {image.format})")
            width, height = image.size
            texts = {k: v for k, v in image.info.items() if isinstance(v, str)}
            if JSON_KEY not in texts and PARAMETERS_KEY not in texts:
                # Chunks after the image data only show up in .text, which decodes the image.
                texts = {k: v for k, v in getattr(image, "text", {}).items() if isinstance(v, str)}
            if verify:
                image.load()
    except OSError:
        raise
    except (ValueError, SyntaxError, EOFError, struct.error, zlib.error, MemoryError,
            Image.DecompressionBombError) as error:
        # PIL reports some damage as these; callers should need to catch one thing.
        raise UnreadablePng(str(error) or type(error).__name__) from error
    return width, height, texts


def read_png_metadata(path: Path, verify: bool = False) -> PngMetadata:
    """Prefers our `sd_desk` JSON chunk, field by field, and falls back to A1111 `parameters`
    for each field the JSON lacks or has wrong.

    With `verify`, the whole file is checked (every chunk's CRC and the image
    data), so a truncated or damaged file raises instead of reading as fine.
    Raises OSError (UnreadablePng, PIL's UnidentifiedImageError) for unreadable
    files, and for anything that is not a regular file; a bad recipe never raises.
    """
    width, height, texts = _read_texts(path, verify)
    problems: list[Problem] = []
    for key in (PARAMETERS_KEY, JSON_KEY):
        if len(texts.get(key, "")) > MAX_CHUNK_CHARS:
            problems.append(Problem(key, f"The {key} chunk is {len(texts[key])} characters long; "
                                         f"more than {MAX_CHUNK_CHARS} is not read."))
            del texts[key]
    parameters_text = texts.get(PARAMETERS_KEY)
    parsed = parse_parameters(parameters_text) if parameters_text else None
    meta = PngMetadata(source="none", width=width, height=height, parameters=parsed,
                       parameters_text=parameters_text, problems=problems)
    ours = from_json(texts[JSON_KEY]) if texts.get(JSON_KEY) else None
    if texts.get(JSON_KEY) and ours is None:
        problems.append(Problem(JSON_KEY, f"The {JSON_KEY} chunk is not a recipe this version reads."))
    if ours is not None:
        meta.source, recipe = "sd_desk", ours.over(parsed.recipe) if parsed else ours
    elif parsed is not None:
        meta.source, recipe = "parameters", parsed.recipe
    else:
        return meta
    meta.recipe = recipe
    meta.problems = problems + recipe.problems
    meta.model_hash = recipe.labels.get("model_hash")
    meta.request = recipe.request()
    if meta.model_hash:  # reuse finds a renamed checkpoint by its hash
        meta.request = meta.request.replace(model=model_by_hash(meta.request.model, meta.model_hash))
    meta.seed = recipe.values.get("seed")
    meta.model_label = recipe.labels.get("model_label", recipe.values.get("model"))
    meta.batch_seed = recipe.labels.get("batch_seed", meta.seed)
    return meta
