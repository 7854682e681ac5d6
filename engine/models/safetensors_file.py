"""A small, safe, lazy reader (and writer) of `.safetensors` files: numpy and ml_dtypes only.

The format: 8 bytes little-endian header length N, N bytes of UTF-8 JSON, then the data.
Files come from strangers, so the header is checked in full before anything trusts it,
and tensor data is only touched on `read`, through a memory map, one tensor at a time.
"""
from __future__ import annotations

import json
import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import ml_dtypes
import numpy as np

MAX_HEADER = 100_000_000  # real headers are kilobytes; a bigger claim is damage or malice

# The file's dtype codes; all little-endian. F8 only where this ml_dtypes has it.
DTYPES = {"F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"),
          "BF16": np.dtype(ml_dtypes.bfloat16),
          "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"), "I8": np.dtype("i1"),
          "U64": np.dtype("<u8"), "U32": np.dtype("<u4"), "U16": np.dtype("<u2"), "U8": np.dtype("u1"),
          "BOOL": np.dtype("?")}
for _code, _name in (("F8_E4M3", "float8_e4m3fn"), ("F8_E5M2", "float8_e5m2")):
    if hasattr(ml_dtypes, _name):
        DTYPES[_code] = np.dtype(getattr(ml_dtypes, _name))
CODES = {dtype: code for code, dtype in DTYPES.items()}


class SafetensorsError(ValueError):
    """What is wrong with the file, worded for a person (no traceback, no path: callers add the path)."""


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: str  # the file's dtype code, e.g. "F16"
    shape: tuple[int, ...]
    begin: int  # absolute byte offsets in the file
    end: int


def _q(name) -> str:
    """A name quoted for a one-line message: repr escapes newlines, and hostile names can be huge."""
    text = repr(name)
    return text if len(text) <= 80 else text[:77] + "..."


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)  # JSON true is not a size


def _no_duplicates(pairs):
    # json.loads would keep the last of two equal names silently; two tensors of one name is damage.
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise SafetensorsError(f"its header names {_q(key)} twice")
        seen[key] = value
    return seen


def _parse_header(raw: bytes) -> dict:
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except SafetensorsError:
        raise
    except UnicodeDecodeError:
        raise SafetensorsError("its header is not valid UTF-8") from None
    except RecursionError:  # "[[[[..." deeper than Python's stack
        raise SafetensorsError("its header is not valid JSON (nested too deeply)") from None
    except ValueError:  # JSONDecodeError, and ints too long to convert
        raise SafetensorsError("its header is not valid JSON") from None
    if not isinstance(header, dict):
        raise SafetensorsError(f"its header is not a JSON object but a {type(header).__name__}")
    return header


def _tensor_info(name: str, entry, data_start: int, size: int) -> TensorInfo:
    if not isinstance(entry, dict):
        raise SafetensorsError(f"tensor {_q(name)} is described by a {type(entry).__name__}, not an object")
    code = entry.get("dtype")
    if code not in DTYPES:
        raise SafetensorsError(f"tensor {_q(name)} has an unknown dtype {_q(code)}")
    shape = entry.get("shape")
    if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
        raise SafetensorsError(f"tensor {_q(name)} has a bad shape {_q(shape)} "
                               "(not a list of non-negative integers)")
    offsets = entry.get("data_offsets")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(map(_is_int, offsets))
            and 0 <= offsets[0] <= offsets[1]):
        raise SafetensorsError(f"tensor {_q(name)} has bad data_offsets {_q(offsets)} "
                               "(need [begin, end] with 0 <= begin <= end)")
    begin, end = offsets
    if end - begin != math.prod(shape) * DTYPES[code].itemsize:  # Python ints: no overflow
        raise SafetensorsError(f"tensor {_q(name)} has {end - begin} bytes: "
                               f"its size disagrees with its shape {shape} of {code}")
    if data_start + end > size:
        raise SafetensorsError(f"the file is cut short: tensor {_q(name)} ends at byte {data_start + end} "
                               f"but the file has {size} bytes")
    return TensorInfo(name, code, tuple(shape), data_start + begin, data_start + end)


class SafetensorsFile:
    """The header of one file, checked; tensors are read on demand with `read`."""

    def __init__(self, path):
        self.path = Path(path)
        self._file = None  # opened on the first read
        with open(self.path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size < 8:
                raise SafetensorsError(f"it is too short to be a safetensors file ({size} bytes)")
            (n,) = struct.unpack("<Q", f.read(8))
            # Checked before reading, so a claim of 2**63 bytes allocates nothing.
            if n == 0:
                raise SafetensorsError("its header is empty (length 0)")
            if n > size - 8:
                raise SafetensorsError(f"its header claims {n} bytes, more than the file holds ({size} bytes)")
            if n > MAX_HEADER:
                raise SafetensorsError(f"its header claims {n} bytes, more than the {MAX_HEADER} allowed")
            raw = f.read(n)
        header = _parse_header(raw)
        metadata = header.pop("__metadata__", {})
        if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
            raise SafetensorsError("its __metadata__ is not an object of strings")
        self.metadata: dict[str, str] = metadata
        self._infos = {name: _tensor_info(name, entry, 8 + n, size) for name, entry in header.items()}
        # Overlap: sorted by begin, each non-empty range must start at or after the furthest end so far.
        last = None
        for t in sorted((t for t in self._infos.values() if t.end > t.begin), key=lambda t: t.begin):
            if last is not None and t.begin < last.end:
                raise SafetensorsError(f"tensors {_q(last.name)} and {_q(t.name)} overlap in the file")
            if last is None or t.end > last.end:
                last = t

    def keys(self) -> list[str]:
        return list(self._infos)

    def __contains__(self, name) -> bool:
        return name in self._infos

    def info(self, name) -> TensorInfo:
        try:
            return self._infos[name]
        except KeyError:
            raise KeyError(f"no tensor {_q(name)} in the file") from None

    def read(self, name, dtype=None) -> np.ndarray:
        """A fresh in-memory array that owns its data, in the file's dtype or converted to `dtype`.

        Positional reads, not a memory map: a map's touched pages count as the process's
        resident memory until it is closed, so loading a 2 GB checkpoint through one showed
        2 GB more at peak than the networks themselves need."""
        t = self.info(name)
        out = np.empty(t.shape, np.uint8 if t.dtype == "BOOL" else DTYPES[t.dtype])
        if t.end > t.begin:
            if self._file is None:
                self._file = open(self.path, "rb")
            self._file.seek(t.begin)
            target = memoryview(out.reshape(-1).view(np.uint8))
            done = 0
            while done < len(target):
                got = self._file.readinto(target[done:])
                if not got:  # the file shrank since the header was checked
                    raise SafetensorsError(f"the file is cut short: tensor {_q(name)} ends at byte "
                                           f"{t.end} but the file has {t.begin + done} bytes")
                done += got
        if t.dtype == "BOOL":  # a byte other than 0/1 must still read as a proper bool
            out = np.array(out != 0, dtype=np.bool_)
        return out if dtype is None else out.astype(dtype)

    def close(self):
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def write_safetensors(path, tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None) -> None:
    """Sorted names, contiguous data, header padded with spaces so the data starts 8-aligned."""
    path = Path(path)
    header, arrays, offset = {}, [], 0
    if metadata:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise TypeError("safetensors metadata must map strings to strings")
        header["__metadata__"] = dict(metadata)
    for name in sorted(tensors):
        if not isinstance(name, str) or name == "__metadata__":
            raise ValueError(f"bad tensor name {_q(name)}")
        a = np.asarray(tensors[name])
        little = a.dtype.newbyteorder("<") if a.dtype.byteorder == ">" else a.dtype
        if little not in CODES:
            raise TypeError(f"tensor {_q(name)} has a dtype safetensors cannot hold: {a.dtype}")
        data = np.ascontiguousarray(a, dtype=little).tobytes()
        header[name] = {"dtype": CODES[little], "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(data)]}
        arrays.append(data)
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(struct.pack("<Q", len(raw)) + raw)
            for data in arrays:
                f.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
