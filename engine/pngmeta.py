"""The recipe every saved PNG carries, and reading it back from any PNG.

`parameters` is the A1111 text chunk other Stable Diffusion tools read;
`sd_desk` is our own JSON with the whole request, so nothing is lost in the
A1111 text format.
"""
from __future__ import annotations

import json
import os
import re
import struct
import uuid
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

import numpy as np
from PIL import Image, PngImagePlugin

from engine.request import GenerationRequest

JSON_KEY = "sd_desk"
PARAMETERS_KEY = "parameters"
NEGATIVE_PREFIX = "Negative prompt:"


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


def format_parameters(request: GenerationRequest, seed: int, model_label: str) -> str:
    lines = [request.prompt]
    if request.negative_prompt:
        lines.append(f"{NEGATIVE_PREFIX} {request.negative_prompt}")
    lines.append(
        f"Steps: {request.steps}, Sampler: DDIM, CFG scale: {_number(request.guidance)}, "
        f"Seed: {seed}, Size: {request.width}x{request.height}, Model: {_quote(model_label)}"
    )
    return "\n".join(lines)


def png_info(request: GenerationRequest, seed: int, model_label: str,
             backend: str = "", device: str = "",
             extra: Optional[dict[str, str]] = None) -> PngImagePlugin.PngInfo:
    """`backend` and `device`: what the image was made on (recorded when known).
    `extra`: more text chunks by key (a batch grid's axes)."""
    info = PngImagePlugin.PngInfo()
    info.add_itxt(PARAMETERS_KEY, format_parameters(request, seed, model_label))
    payload = {"request": request.replace(seed=seed, batch=1).to_dict(),
               "batch_seed": request.seed, "model_label": model_label}
    payload.update({key: value for key, value in (("backend", backend), ("device", device))
                    if value})
    info.add_itxt(JSON_KEY, json.dumps(payload, ensure_ascii=False, sort_keys=True))
    for key, text in (extra or {}).items():
        info.add_itxt(key, text)
    return info


def save_png(path: Path, pixels: np.ndarray, request: GenerationRequest, seed: int,
             model_label: str, backend: str = "", device: str = "",
             extra: Optional[dict[str, str]] = None) -> Path:
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
                                                          backend, device, extra))
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

_KEY = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9 _\-/().+]*?)\s*:\s*")
_SIZE = re.compile(r"^\s*(\d+)\s*x\s*(\d+)\s*$")
_decoder = json.JSONDecoder()


@dataclass
class ParsedParameters:
    """An A1111 `parameters` text, taken apart. Fields the text lacks are None."""
    prompt: str = ""
    negative_prompt: str = ""
    steps: Optional[int] = None
    guidance: Optional[float] = None  # "CFG scale"
    seed: Optional[int] = None
    width: Optional[int] = None
    height: Optional[int] = None
    model: Optional[str] = None
    sampler: Optional[str] = None
    extra: dict[str, str] = field(default_factory=dict)  # every other key, in order

    def to_request(self, base: Optional[GenerationRequest] = None,
                   known_models: Iterable[str] = ()) -> GenerationRequest:
        """These settings over `base`; the model only where it names one of ours.

        Values are taken as they are (a 500x700 size stays 500x700) so that
        `validate()` can tell the person what to change.
        """
        base = base or GenerationRequest(prompt="")
        changes: dict = {"prompt": self.prompt, "negative_prompt": self.negative_prompt}
        for name in ("steps", "guidance", "seed", "width", "height"):
            value = getattr(self, name)
            if value is not None:
                changes[name] = value
        if self.model is not None and self.model in set(known_models):
            changes["model"] = self.model
        return base.replace(batch=1, **changes)


def _split_pairs(line: str) -> Optional[list[tuple[str, str]]]:
    """`Key: value, Key: "quoted, value", ...` as pairs; None if the line is not that.

    A piece with no `Key:` in front is glued back onto the value before it, so
    an unquoted value holding a comma (as older writers produced) stays whole.
    """
    pairs: list[tuple[str, str]] = []
    pos = 0
    while pos < len(line):
        key_match = _KEY.match(line, pos)
        if key_match is None:
            if not pairs:
                return None
            end = line.find(",", pos)
            end = len(line) if end < 0 else end
            key, value = pairs[-1]
            pairs[-1] = (key, (value + "," + line[pos:end]).rstrip())
            pos = end + 1
            continue
        key = key_match.group(1)
        pos = key_match.end()
        if line.startswith('"', pos):
            try:
                value, pos = _decoder.raw_decode(line, pos)
            except ValueError:
                return None
            if not isinstance(value, str):
                return None
            rest = line[pos:].lstrip()
            if rest and not rest.startswith(","):
                return None
            pos = len(line) - len(rest) + 1
        else:
            end = line.find(",", pos)
            end = len(line) if end < 0 else end
            value = line[pos:end].strip()
            pos = end + 1
        pairs.append((key, value))
    return pairs


def _int(text: str) -> Optional[int]:
    try:
        return int(text.strip())
    except ValueError:
        return None


def _float(text: str) -> Optional[float]:
    try:
        return float(text.strip())
    except ValueError:
        return None


def parse_parameters(text: str) -> ParsedParameters:
    """Reads the A1111 format: prompt lines, an optional `Negative prompt:` line (and
    the lines after it), and a last line of `Key: value` pairs that names `Steps`.

    Our own writer's output comes back exactly, multi-line prompts included; the
    one thing the format cannot carry is a prompt line that itself starts with
    "Negative prompt:" (our JSON chunk carries that).
    """
    # Trailing newlines are other tools' habit; our writer always ends with the pairs.
    lines = text.replace("\r\n", "\n").rstrip("\n").split("\n")
    result = ParsedParameters()
    pairs = _split_pairs(lines[-1].strip()) if lines else None
    if pairs and any(k == "Steps" for k, _ in pairs):
        lines = lines[:-1]
    else:
        pairs = []
    for index, line in enumerate(lines):
        if line.startswith(NEGATIVE_PREFIX):
            negative = [line[len(NEGATIVE_PREFIX):]] + lines[index + 1:]
            if negative[0].startswith(" "):
                negative[0] = negative[0][1:]
            result.negative_prompt = "\n".join(negative)
            lines = lines[:index]
            break
    result.prompt = "\n".join(lines)

    for key, value in pairs:
        if key == "Steps" and _int(value) is not None:
            result.steps = _int(value)
        elif key == "CFG scale" and _float(value) is not None:
            result.guidance = _float(value)
        elif key == "Seed" and _int(value) is not None:
            result.seed = _int(value)
        elif key == "Size" and _SIZE.match(value):
            w, h = _SIZE.match(value).groups()
            result.width, result.height = int(w), int(h)
        elif key == "Model":
            result.model = value
        elif key == "Sampler":
            result.sampler = value
        else:
            result.extra[key] = value
    return result


@dataclass
class PngMetadata:
    """What a PNG says about how it was made.

    `source` is "sd_desk" (our JSON chunk: exact), "parameters" (A1111 text,
    possibly from another tool) or "none". `request` is this one image's
    request (its own seed, batch 1), or None when the file carries no recipe.
    """
    source: str
    width: int
    height: int
    request: Optional[GenerationRequest] = None
    seed: Optional[int] = None
    model_label: Optional[str] = None
    batch_seed: Optional[int] = None
    parameters: Optional[ParsedParameters] = None
    parameters_text: Optional[str] = None


class UnreadablePng(OSError):
    """A file that is not a PNG we can read, for whatever reason PIL found."""


def read_png_metadata(path: Path, verify: bool = False) -> PngMetadata:
    """Prefers our `sd_desk` JSON chunk and falls back to A1111 `parameters`.

    With `verify`, the whole file is checked (every chunk's CRC and the image
    data), so a truncated or damaged file raises instead of reading as fine.
    Raises OSError (UnreadablePng, PIL's UnidentifiedImageError) for unreadable files.
    """
    try:
        with Image.open(path) as image:
            width, height = image.size
            texts = {k: v for k, v in image.info.items() if isinstance(v, str)}
            if JSON_KEY not in texts and PARAMETERS_KEY not in texts:
                # Chunks after the image data only show up in .text, which decodes the image.
                texts = {k: v for k, v in getattr(image, "text", {}).items() if isinstance(v, str)}
            if verify:
                image.load()
    except OSError:
        raise
    except (ValueError, SyntaxError, EOFError, struct.error, zlib.error,
            Image.DecompressionBombError) as error:
        # PIL reports some damage as these; callers should need to catch one thing.
        raise UnreadablePng(f"{path}: {error}") from error
    parameters_text = texts.get(PARAMETERS_KEY)
    parsed = parse_parameters(parameters_text) if parameters_text else None
    meta = PngMetadata(source="none", width=width, height=height, parameters=parsed,
                       parameters_text=parameters_text)
    raw = texts.get(JSON_KEY)
    if raw:
        try:
            payload = json.loads(raw)
            request = GenerationRequest.from_dict(payload["request"])
        except (ValueError, KeyError, TypeError):
            payload = None
        if payload is not None:
            meta.source = "sd_desk"
            meta.request = request
            meta.seed = request.seed
            meta.model_label = payload.get("model_label", request.model)
            meta.batch_seed = payload.get("batch_seed", request.seed)
            return meta
    if parsed is not None:
        meta.source = "parameters"
        meta.request = parsed.to_request()
        meta.seed = parsed.seed
        meta.batch_seed = parsed.seed
        meta.model_label = parsed.model
    return meta
