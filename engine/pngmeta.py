"""The recipe every saved PNG carries.

`parameters` is the A1111 text chunk other Stable Diffusion tools read;
`sd_desk` is our own JSON with the whole request, so nothing is lost in the
A1111 text format.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin

from engine.request import GenerationRequest

JSON_KEY = "sd_desk"


def format_parameters(request: GenerationRequest, seed: int, model_label: str) -> str:
    lines = [request.prompt]
    if request.negative_prompt:
        lines.append(f"Negative prompt: {request.negative_prompt}")
    lines.append(
        f"Steps: {request.steps}, Sampler: DDIM, CFG scale: {request.guidance:g}, "
        f"Seed: {seed}, Size: {request.width}x{request.height}, Model: {model_label}"
    )
    return "\n".join(lines)


def png_info(request: GenerationRequest, seed: int, model_label: str) -> PngImagePlugin.PngInfo:
    info = PngImagePlugin.PngInfo()
    info.add_itxt("parameters", format_parameters(request, seed, model_label))
    payload = {"request": request.replace(seed=seed, batch=1).to_dict(),
               "batch_seed": request.seed, "model_label": model_label}
    info.add_itxt(JSON_KEY, json.dumps(payload, ensure_ascii=False, sort_keys=True))
    return info


def save_png(path: Path, pixels: np.ndarray, request: GenerationRequest, seed: int,
             model_label: str) -> Path:
    """Writes atomically: a reader never sees a half-written file under `path`."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".png", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            Image.fromarray(pixels).save(handle, format="PNG",
                                         pnginfo=png_info(request, seed, model_label))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
