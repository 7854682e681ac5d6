"""Whether a weight file can be what its name says, read in milliseconds, before any model is built.

The sha256 (verify.py) proves a file is KerasCV's own download, but it costs a
full read and cannot apply to fine-tuned weights in a folder the person named.
This check applies everywhere and reads only what Keras's loader relies on: the
HDF5 signature, the file's layer list, and the shape of every array in order
(engine/models/h5_layout.py, generated from the real architectures); for the
vocabulary, a complete gzip stream of UTF-8 text in CLIP's merges format.
Verdicts are kept per path, size, modification time and inode.
"""
from __future__ import annotations

import gzip
import os
import re
import threading
import zlib
from pathlib import Path
from typing import Optional

from engine.models.errors import DamagedWeightFile
from engine.models.registry import WeightFile, all_models

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
# HDF5 allows a user block before the signature, at 0, 512, 1024, 2048, ... bytes.
_SIGNATURE_OFFSETS = (0, 512, 1024, 2048, 4096, 8192)
# KerasCV's tokenizer reads merges 1 .. 48894 of the vocabulary (CLIP's 49152 tokens
# less 256 byte tokens and the start and end tokens).
_MERGES_USED = 49152 - 256 - 2
_ROLE_WORDS = {"text_encoder": "text encoder", "diffusion_model": "diffusion model (UNet)",
               "decoder": "image decoder"}

_verdicts: dict[tuple, Optional[str]] = {}
_lock = threading.Lock()


def check_structure(path: Path, wf: WeightFile) -> None:
    """Returns quietly, or raises DamagedWeightFile saying what is wrong with the file."""
    problem = structure_problem(path, wf)
    if problem is not None:
        users = [m.id for m in all_models() if any(f.name == wf.name for f in m.files)]
        raise DamagedWeightFile(Path(path), problem, users)


def structure_problem(path: Path, wf: WeightFile) -> Optional[str]:
    """What is wrong with the file, worded for a person, or None when it looks right.

    Files this module has no expectations for (no layout and not a vocabulary)
    pass: only the hash can vouch for them.
    """
    try:
        st = os.stat(path)
    except OSError as error:
        return f"it cannot be read ({error.strerror})"
    key = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns, st.st_ino, wf.name)
    with _lock:
        if key in _verdicts:
            return _verdicts[key]
    problem = _examine(Path(path), wf, st.st_size)
    with _lock:
        _verdicts[key] = problem
    return problem


def has_expectations(wf: WeightFile) -> bool:
    from engine.models.h5_layout import LAYOUTS
    return wf.role in ("vocabulary", "checkpoint") or wf.name in LAYOUTS


def _examine(path: Path, wf: WeightFile, size: int) -> Optional[str]:
    if not has_expectations(wf):
        return None
    if size == 0:
        return "it is empty (0 bytes)"
    try:
        if wf.role == "vocabulary":
            return _vocabulary_problem(path)
        if wf.role == "checkpoint":  # an original-layout file: its header says what it holds
            from engine.models.library import describe
            return describe(path)[2] or None
        return _h5_problem(path, wf, size)
    except OSError as error:
        return f"it cannot be read ({error.strerror or error})"


# ---------------------------------------------------------------- vocabulary

def _vocabulary_problem(path: Path) -> Optional[str]:
    try:
        with gzip.open(path, "rb") as handle:
            data = handle.read()
    except gzip.BadGzipFile as error:
        if "CRC" in str(error) or "length" in str(error):
            return f"its compressed data is damaged ({error})"
        return "it is not a gzip file"
    except EOFError:
        return "it is truncated (the gzip stream ends early)"
    except zlib.error as error:
        return f"its compressed data is damaged ({error})"
    try:
        lines = data.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        return "it is not UTF-8 text once uncompressed"
    if not lines[0].startswith("#version"):
        return "it is not a CLIP BPE vocabulary (no '#version' line at the top)"
    merges = lines[1:_MERGES_USED + 1]
    if merges and merges[-1] == "":
        merges = merges[:-1]
    if not merges:
        return "it holds no merges"
    for number, line in enumerate(merges, start=2):
        if len(line.split()) != 2:
            return f"line {number} is not a merge of two symbols: {line[:40]!r}"
    return None


# ---------------------------------------------------------------- HDF5 weights

def _h5_problem(path: Path, wf: WeightFile, size: int) -> Optional[str]:
    with open(path, "rb") as handle:
        head = handle.read(_SIGNATURE_OFFSETS[-1] + len(HDF5_SIGNATURE))
    if not any(head[o:o + len(HDF5_SIGNATURE)] == HDF5_SIGNATURE for o in _SIGNATURE_OFFSETS):
        return f"it is not an HDF5 file (it starts with {head[:8]!r})"
    import h5py

    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        return _open_problem(str(error), size)
    with handle:
        group = handle["model_weights"] if "model_weights" in handle else handle
        return _layout_problem(group, wf, size)


def _open_problem(message: str, size: int) -> str:
    stored = re.search(r"stored_eof = (\d+)", message)
    if "truncated" in message and stored:
        return f"it is truncated ({size:,} bytes of {int(stored.group(1)):,})"
    return f"it cannot be read as HDF5 ({message.splitlines()[0][:120]})"


def _layout_problem(group, wf: WeightFile, size: int) -> Optional[str]:
    from engine.models.h5_layout import LAYOUTS

    expected = LAYOUTS[wf.name]
    what = _ROLE_WORDS.get(wf.role, wf.role)
    names = _list_attribute(group, "layer_names")
    if names is None:
        return "it is an HDF5 file with no Keras weights in it (no layer list)"
    layers = []
    for name in names:
        if name not in group:
            return f"its layer list names {name!r}, which is not in the file"
        weight_names = _list_attribute(group[name], "weight_names") or []
        if weight_names:
            layers.append((name, weight_names))
    if len(layers) != len(expected):
        return (f"it holds weights for {len(layers)} layers, where KerasCV's {what} has "
                f"{len(expected)} (weights for another model?)")
    data_bytes = 0
    for number, ((name, weight_names), (_, shapes)) in enumerate(zip(layers, expected)):
        if len(weight_names) != len(shapes):
            return (f"layer #{number} ({name}) holds {len(weight_names)} arrays, where KerasCV's "
                    f"{what} has {len(shapes)}")
        for weight_name, shape in zip(weight_names, shapes):
            dataset = group[name].get(weight_name)
            if dataset is None or not hasattr(dataset, "shape"):
                return f"layer #{number} ({name}) lists {weight_name!r}, which is not in the file"
            if tuple(dataset.shape) != tuple(shape):
                return (f"{weight_name!r} of layer #{number} ({name}) has shape "
                        f"{tuple(dataset.shape)}, where KerasCV's {what} needs {tuple(shape)} "
                        "(weights for another model?)")
            stored = dataset.id.get_storage_size()
            if stored == 0 and dataset.size:
                return f"{weight_name!r} of layer #{number} ({name}) holds no data"
            offset = dataset.id.get_offset()
            if offset is not None and offset + stored > size:
                return f"it is truncated ({size:,} bytes; {weight_name!r} ends at {offset + stored:,})"
            data_bytes += stored
    if data_bytes > size:
        return f"it is truncated ({size:,} bytes for {data_bytes:,} bytes of weights)"
    return None


def _list_attribute(group, name: str) -> Optional[list[str]]:
    """Keras splits a long list attribute into name0, name1, ... (HDF5 caps one attribute at 64 KB)."""
    attrs = group.attrs
    if name in attrs:
        values = list(attrs[name])
    elif f"{name}0" in attrs:
        values, chunk = [], 0
        while f"{name}{chunk}" in attrs:
            values.extend(attrs[f"{name}{chunk}"])
            chunk += 1
    else:
        return None
    return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in values]
