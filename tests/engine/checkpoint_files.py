"""Checkpoint files for header-level tests, written in milliseconds.

A real-layout file's header with every tensor the family needs, over a sparse data area
(zeros that take no disk): what a scan, recognition and the completeness check read.
Tests that run the networks use the random-weight files of `checkpoint_files` instead.
"""
from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Optional

import numpy as np

from engine.models.ldm_layout import LAYOUT

CODES = {np.dtype("float16"): "F16", np.dtype("float32"): "F32"}


def family_shapes(family: str, networks=("text_encoder", "diffusion_model", "vae")) -> dict:
    return {key: shape for network in networks for key, shape in LAYOUT[family][network].items()}


def write_sparse(path: Path, shapes: dict, values: Optional[dict] = None,
                 dtype: str = "float16") -> Path:
    """`shapes`: name -> shape; `values`: name -> array actually written (the rest read as 0)."""
    values = values or {}
    itemsize = np.dtype(dtype).itemsize
    header, offset = {}, 0
    for name, shape in shapes.items():
        size = int(np.prod(shape)) * itemsize
        header[name] = {"dtype": CODES[np.dtype(dtype)], "shape": list(shape),
                        "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as handle:
        handle.write(struct.pack("<Q", len(raw)) + raw)
        start = handle.tell()
        handle.truncate(start + offset)
        for name, array in values.items():
            handle.seek(start + header[name]["data_offsets"][0])
            handle.write(np.ascontiguousarray(array, dtype).tobytes())
    return Path(path)
