"""Writers of PyTorch `.pt` files in torch's real formats, for tests, without torch.

`torch.save` pickles (protocol 2) the object with each storage replaced by a persistent
id, `('storage', torch.FloatStorage, key, location, numel)`, and each tensor reduced to
`torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, OrderedDict())`.
The stand-ins below make Python's own pure-Python pickler write those opcodes: a `Name`
is written as GLOBAL without being imported (torch is not installed here), and a tensor,
parameter or ParameterDict is reduced as torch reduces it. Only tests use `pickle`.
"""
from __future__ import annotations

import io
import pickle
import struct
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any, Optional

import ml_dtypes
import numpy as np

from engine.models.safetensors_file import write_safetensors

STORAGE_NAMES = {np.dtype("float32"): "FloatStorage", np.dtype("float16"): "HalfStorage",
                 np.dtype(ml_dtypes.bfloat16): "BFloat16Storage", np.dtype("float64"): "DoubleStorage",
                 np.dtype("int64"): "LongStorage", np.dtype("int32"): "IntStorage",
                 np.dtype("int16"): "ShortStorage", np.dtype("int8"): "CharStorage",
                 np.dtype("uint8"): "ByteStorage", np.dtype("bool"): "BoolStorage"}
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


class Name:
    """A module-level name, written as GLOBAL `module name` (never looked up)."""
    _made: dict[tuple[str, str], "Name"] = {}

    def __new__(cls, module: str, name: str):
        # One object per name, so the pickler's memo writes BINGET for repeats, as torch's does.
        key = (module, name)
        if key not in cls._made:
            made = super().__new__(cls)
            made.module, made.name = module, name
            cls._made[key] = made
        return cls._made[key]

    def __call__(self, *args):  # the pickler wants a reduce function to be callable
        raise TypeError("a stand-in name is never called")


class Storage:
    def __init__(self, array: np.ndarray):
        self.array = np.ascontiguousarray(array).reshape(-1)


class Tensor:
    """A torch tensor: by default a contiguous one of its own storage."""

    def __init__(self, array: Optional[np.ndarray] = None, *, storage: Optional[Storage] = None,
                 offset: int = 0, shape: Optional[tuple] = None, stride: Optional[tuple] = None,
                 requires_grad: bool = False):
        if storage is None:
            array = np.asarray(array)
            storage = Storage(array)
            shape = array.shape if shape is None else shape
        self.storage, self.offset, self.shape = storage, offset, tuple(shape)
        self.stride = tuple(stride) if stride is not None else _contiguous(self.shape)
        self.requires_grad = requires_grad


class Parameter:
    def __init__(self, array: np.ndarray):
        self.tensor = Tensor(array)


class ParameterDict:
    """torch.nn.ParameterDict, pickled (as torch 2 does) as NEWOBJ plus its __dict__."""

    def __init__(self, parameters: dict):
        self.parameters = parameters


class Call:
    """`module.name(*args)` as REDUCE: for files that ask for something other than data."""

    def __init__(self, module: str, name: str, args: tuple = ()):
        self.name, self.args = Name(module, name), args


def _contiguous(shape: tuple) -> tuple:
    stride, step = [], 1
    for n in reversed(shape):
        stride.append(step)
        step *= max(n, 1)
    return tuple(reversed(stride))


class _TorchPickler(pickle._Pickler):
    dispatch = dict(pickle._Pickler.dispatch)

    def __init__(self, file, legacy: bool):
        super().__init__(file, protocol=2)
        self.storages: list[Storage] = []
        self.legacy = legacy

    def persistent_id(self, obj):
        if not isinstance(obj, Storage):
            return None
        for key, known in enumerate(self.storages):
            if known is obj:
                break
        else:
            key = len(self.storages)
            self.storages.append(obj)
        kind = Name("torch", STORAGE_NAMES[obj.array.dtype])
        pid = ("storage", kind, str(key), "cpu", int(obj.array.size))
        return pid + (None,) if self.legacy else pid

    def save_name(self, obj: Name):
        self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode("utf-8"))
        self.memoize(obj)

    def save_tensor(self, obj: Tensor):
        self.save_reduce(Name("torch._utils", "_rebuild_tensor_v2"),
                         (obj.storage, obj.offset, obj.shape, obj.stride, obj.requires_grad,
                          OrderedDict()), obj=obj)

    def save_parameter(self, obj: Parameter):
        self.save_reduce(Name("torch._utils", "_rebuild_parameter"),
                         (obj.tensor, True, OrderedDict()), obj=obj)

    def save_parameter_dict(self, obj: ParameterDict):
        self.save(Name("torch.nn.modules.container", "ParameterDict"))
        self.write(pickle.EMPTY_TUPLE + pickle.NEWOBJ)
        self.memoize(obj)
        # Part of what torch 2 writes for a module's __dict__; the parameters are what counts.
        self.save({"training": True, "_parameters": dict(obj.parameters), "_buffers": {},
                   "_non_persistent_buffers_set": Call("__builtin__", "set", ([],)),
                   "_backward_hooks": OrderedDict(), "_modules": {},
                   "_keys": {key: None for key in obj.parameters}})
        self.write(pickle.BUILD)

    def save_call(self, obj: Call):
        self.save_reduce(obj.name, obj.args, obj=obj)

    dispatch[Name] = save_name
    dispatch[Tensor] = save_tensor
    dispatch[Parameter] = save_parameter
    dispatch[ParameterDict] = save_parameter_dict
    dispatch[Call] = save_call


def dumps(obj: Any, legacy: bool = False) -> tuple[bytes, list[Storage]]:
    """The pickle torch.save would write for `obj`, and its storages in key order."""
    out = io.BytesIO()
    pickler = _TorchPickler(out, legacy)
    pickler.dump(obj)
    return out.getvalue(), pickler.storages


def _storage_bytes(storage: Storage, big_endian: bool) -> bytes:
    array = storage.array
    return array.byteswap().tobytes() if big_endian else array.tobytes()


def write_pt(path: Path, obj: Any, *, prefix: Optional[str] = None, big_endian: bool = False,
             members: Optional[dict[str, bytes]] = None) -> Path:
    """`obj` as torch.save writes it (a zip whose folder is the file's stem, as torch names
    it); `members` replaces or adds zip entries, to damage a file on purpose."""
    path = Path(path)
    data, storages = dumps(obj)
    prefix = path.stem if prefix is None else prefix
    entries = {f"{prefix}/data.pkl": data, f"{prefix}/.format_version": b"1",
               f"{prefix}/.storage_alignment": b"64",
               f"{prefix}/byteorder": b"big" if big_endian else b"little"}
    for key, storage in enumerate(storages):
        entries[f"{prefix}/data/{key}"] = _storage_bytes(storage, big_endian)
    entries[f"{prefix}/version"] = b"3\n"
    entries[f"{prefix}/.data/serialization_id"] = b"0" * 40
    for name, value in (members or {}).items():
        if value is None:
            entries.pop(name, None)
        else:
            entries[name] = value
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for name, value in entries.items():
            archive.writestr(name, value)
    return path


def write_legacy_pt(path: Path, obj: Any, big_endian_machine: bool = False) -> Path:
    """`obj` in torch's pre-1.6 format: magic, version and system pickles, the object, the
    list of storage keys, then each storage as its element count and its bytes, both
    little-endian even when the writing machine was not (torch converted them)."""
    data, storages = dumps(obj, legacy=True)
    info = {"protocol_version": 1001, "little_endian": not big_endian_machine,
            "type_sizes": {"short": 2, "int": 4, "long": 4}}
    parts = [pickle.dumps(LEGACY_MAGIC, protocol=2), pickle.dumps(1001, protocol=2),
             pickle.dumps(info, protocol=2), data,
             pickle.dumps([str(key) for key in range(len(storages))], protocol=2)]
    for storage in storages:
        parts.append(struct.pack("<q", storage.array.size))
        parts.append(_storage_bytes(storage, big_endian=False))
    Path(path).write_bytes(b"".join(parts))
    return Path(path)


# ----------------------------------------------------------------------------- embeddings

def a1111_embedding(vectors: np.ndarray, name: str = "embedding", step: int = 100,
                    parameter_dict: bool = False) -> dict:
    """What A1111's Embedding.save passes to torch.save (or, with parameter_dict, what the
    original textual-inversion code saved: a ParameterDict of Parameters)."""
    params = ParameterDict({"*": Parameter(vectors)}) if parameter_dict else {"*": Tensor(vectors)}
    return {"string_to_token": {"*": 265}, "string_to_param": params, "name": name,
            "step": step, "sd_checkpoint": "abcdef12", "sd_checkpoint_name": "model"}


def write_a1111_pt(path: Path, vectors: np.ndarray, **options) -> Path:
    return write_pt(path, a1111_embedding(vectors, name=Path(path).stem, **options))


def write_diffusers_bin(path: Path, token: str, vector: np.ndarray) -> Path:
    """diffusers' learned_embeds.bin: {token: tensor (width,)}."""
    return write_pt(path, {token: Tensor(vector)})


def write_emb_params(path: Path, vectors: np.ndarray, name: str = "emb_params") -> Path:
    write_safetensors(path, {name: vectors})
    return Path(path)


def write_sdxl(path: Path, clip_l: np.ndarray, clip_g: np.ndarray) -> Path:
    write_safetensors(path, {"clip_l": clip_l, "clip_g": clip_g})
    return Path(path)


def vectors(count: int, width: int, seed: int = 0, dtype=np.float32) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((count, width)).astype(dtype)
