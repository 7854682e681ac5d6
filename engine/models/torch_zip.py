"""The tensors of a PyTorch `.pt` / `.bin` file, read without running its pickle.

`torch.save` writes a zip: `<name>/data.pkl` (a pickle of the saved object, in which each
tensor's data is a *persistent id* naming a storage) and `<name>/data/<key>` (each
storage's raw little-endian bytes). Loading that pickle with Python's `pickle` module
would import and call whatever the file names, which is how a model file runs code.

So this module reads the pickle itself, one opcode at a time, and builds plain data only:
dicts, lists, tuples, sets, str, bytes, numbers, None, and `TensorRef`s. A name the pickle
asks for (a GLOBAL) is never imported: the few torch, collections and numpy names that
stand for data are known here by name, and any other name ends the read with a
`TorchFileError` saying the file holds something other than tensors.

The older non-zip format (torch before 1.6, or `_use_new_zipfile_serialization=False`),
a few pickles in a row followed by the storages' bytes, is read the same way.
"""
from __future__ import annotations

import math
import os
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import ml_dtypes
import numpy as np

MAX_PICKLE_BYTES = 64 * 1024 * 1024  # a large checkpoint's data.pkl is a few megabytes
# Legacy files begin with this number, pickled, then the format's version (1001).
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_VERSION = 1001
# A compressed member may claim at most this many times its stored size (torch stores
# members uncompressed; a bigger claim is a zip bomb).
MAX_EXPANSION = 100

# The storage classes torch names in a persistent id, by the dtype of their elements.
STORAGE_DTYPES = {
    "DoubleStorage": np.dtype("<f8"), "FloatStorage": np.dtype("<f4"),
    "HalfStorage": np.dtype("<f2"), "BFloat16Storage": np.dtype(ml_dtypes.bfloat16),
    "LongStorage": np.dtype("<i8"), "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"), "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"), "BoolStorage": np.dtype("?"),
    "UntypedStorage": np.dtype("u1"),
}


class TorchFileError(ValueError):
    """What is wrong with the file, worded for a person (no path: callers add the file name)."""


@dataclass(frozen=True)
class Storage:
    key: str  # the storage's name in the file
    dtype: np.dtype
    numel: int


@dataclass(frozen=True)
class TensorRef:
    """A tensor as the file describes it; `TorchFile.read` gives its values."""
    storage: Storage
    offset: int  # in elements, into the storage
    shape: tuple[int, ...]
    stride: tuple[int, ...]

    @property
    def dtype(self) -> np.dtype:
        return self.storage.dtype


# ------------------------------------------------------------------ the names a file may use

@dataclass(frozen=True)
class _Name:
    """A GLOBAL the pickle asked for: a name only, never imported."""
    module: str
    name: str

    def __str__(self) -> str:
        return f"{self.module}.{self.name}"


class _ModuleDict(dict):
    """A torch.nn.ParameterDict, stood for by the dict of its parameters (set by BUILD)."""


class _DtypeBox:
    """A numpy dtype under construction: BUILD may still set its byte order."""

    def __init__(self, dtype: np.dtype):
        self.dtype = dtype


def _rebuild_tensor(storage, offset, shape, stride, *_ignored) -> TensorRef:
    # *_ignored: requires_grad, backward hooks (an empty OrderedDict; a hook would be a
    # function, refused as a name) and metadata: nothing that changes the values.
    if not isinstance(storage, Storage):
        raise TorchFileError("a tensor in it has no storage")
    if not (_is_int(offset) and offset >= 0 and isinstance(shape, tuple) and isinstance(stride, tuple)
            and len(shape) == len(stride) and all(_is_int(n) and n >= 0 for n in shape + stride)):
        raise TorchFileError("a tensor in it has a bad size, stride or offset")
    if math.prod(shape) and offset + sum((n - 1) * s for n, s in zip(shape, stride)) >= storage.numel:
        raise TorchFileError(f"a tensor of shape {list(shape)} reaches past the end of its storage "
                             f"({storage.numel} elements)")
    return TensorRef(storage, offset, shape, stride)


def _rebuild_parameter(data, *_ignored):  # requires_grad, hooks, and (newer) the state
    if not isinstance(data, TensorRef):
        raise TorchFileError("a parameter in it holds no tensor")
    return data


def _ordered_dict(*args):
    return dict(*args)


def _collection(kind):
    def make(items=()):
        return kind(items)
    return make


def _encode(text, encoding="latin1"):
    # Protocol 2 writes bytes as _codecs.encode(str, "latin1"): data, not code.
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise TorchFileError("it holds an encoded string of a kind SD Desk does not read")
    return text.encode("latin1")


def _numpy_dtype(spec, *_flags):
    try:
        return _DtypeBox(np.dtype(spec))
    except TypeError:
        raise TorchFileError(f"it holds a numpy value of an unknown type {spec!r}") from None


def _numpy_scalar(box, raw=None):
    # numpy pickles a scalar (a training step, say) as its dtype and its bytes.
    if not isinstance(box, _DtypeBox) or not isinstance(raw, bytes) \
            or box.dtype.kind not in "biuf" or len(raw) != box.dtype.itemsize:
        raise TorchFileError("it holds a numpy value SD Desk does not read")
    return np.frombuffer(raw, box.dtype)[0].item()


def _parameter_dict():
    return _ModuleDict()


# Called with REDUCE (or NEWOBJ): each builds plain data from plain data.
_CALLABLE = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("collections", "OrderedDict"): _ordered_dict,
    ("__builtin__", "set"): _collection(set), ("builtins", "set"): _collection(set),
    ("__builtin__", "frozenset"): _collection(frozenset), ("builtins", "frozenset"): _collection(frozenset),
    ("_codecs", "encode"): _encode,
    ("numpy", "dtype"): _numpy_dtype,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,
    ("torch.nn.modules.container", "ParameterDict"): _parameter_dict,
}


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _refuse_name(name: _Name) -> TorchFileError:
    return TorchFileError(
        f"it asks for {name}, which is neither a tensor nor plain data; SD Desk reads no such "
        "file, because loading it the usual way would run code")


# ------------------------------------------------------------------ the pickle interpreter

_MARK = object()


def unpickle(data: bytes, persistent_load: Callable[[Any], Any], start: int = 0) -> tuple[Any, int]:
    """(the object, where its STOP ended) of the pickle at `data[start:]`; raises TorchFileError."""
    try:
        return _Unpickler(data, persistent_load, start).run()
    except TorchFileError:
        raise
    except (IndexError, KeyError, TypeError, ValueError, struct.error, RecursionError,
            UnicodeDecodeError, OverflowError, MemoryError) as error:
        raise TorchFileError(f"its pickled data is damaged ({type(error).__name__})") from None


class _Unpickler:
    def __init__(self, data: bytes, persistent_load, start: int):
        self.data = memoryview(data)
        self.pos = start
        self.persistent_load = persistent_load
        self.stack: list = []
        self.memo: dict[int, Any] = {}

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise TorchFileError("its pickled data is cut short")
        chunk = bytes(self.data[self.pos:self.pos + n])
        self.pos += n
        return chunk

    def unpack(self, fmt: str):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def line(self) -> str:
        end = bytes(self.data[self.pos:self.pos + 1024]).find(b"\n")
        if end < 0:
            raise TorchFileError("its pickled data is damaged (a name without an end)")
        return self.take(end + 1)[:-1].decode("utf-8")

    def pop_mark(self) -> list:
        for index in range(len(self.stack) - 1, -1, -1):
            if self.stack[index] is _MARK:
                items = self.stack[index + 1:]
                del self.stack[index:]
                return items
        raise TorchFileError("its pickled data is damaged (no MARK)")

    def pop(self):
        value = self.stack.pop()
        if value is _MARK:
            raise TorchFileError("its pickled data is damaged (a MARK where a value belongs)")
        return value

    def run(self) -> tuple[Any, int]:
        ops = _OPS
        while True:
            code = self.take(1)
            handler = ops.get(code)
            if handler is None:
                raise TorchFileError(f"its pickled data uses opcode {code!r}, which SD Desk does "
                                     "not read (it is not what torch.save writes)")
            if handler is _stop:
                return self.pop(), self.pos
            handler(self)


def _stop(u):  # never called: run() returns when it meets this handler
    raise AssertionError


def _push(value):
    return lambda u: u.stack.append(value)


def _push_str(fmt):
    return lambda u: u.stack.append(u.take(u.unpack(fmt)).decode("utf-8"))


def _push_bytes(fmt):
    return lambda u: u.stack.append(u.take(u.unpack(fmt)))


def _push_long(fmt):
    return lambda u: u.stack.append(int.from_bytes(u.take(u.unpack(fmt)), "little", signed=True))


def _tuple(n):
    def op(u):
        items = u.stack[len(u.stack) - n:] if n else []
        if len(items) != n or any(i is _MARK for i in items):
            raise TorchFileError("its pickled data is damaged (a short tuple)")
        del u.stack[len(u.stack) - n:]
        u.stack.append(tuple(items))
    return op


def _put(fmt):
    def op(u):
        u.memo[u.unpack(fmt)] = u.stack[-1]
    return op


def _get(fmt):
    def op(u):
        u.stack.append(u.memo[u.unpack(fmt)])
    return op


def _memoize(u):
    u.memo[len(u.memo)] = u.stack[-1]


def _known_name(module: str, name: str) -> _Name:
    """Only names that stand for data pass; any other ends the read here, unimported."""
    found = _Name(module, name)
    if (module, name) not in _CALLABLE and not (module == "torch" and name.endswith("Storage")):
        raise _refuse_name(found)
    return found


def _global(u):
    u.stack.append(_known_name(u.line(), u.line()))


def _stack_global(u):
    name, module = u.pop(), u.pop()
    if not (isinstance(module, str) and isinstance(name, str)):
        raise TorchFileError("its pickled data is damaged (a name that is not text)")
    u.stack.append(_known_name(module, name))


def _call(target: Any, args: Any):
    if not isinstance(target, _Name):
        raise TorchFileError("its pickled data calls something that is not a name")
    maker = _CALLABLE.get((target.module, target.name))
    if maker is None:
        raise _refuse_name(target)
    if not isinstance(args, tuple):
        raise TorchFileError("its pickled data is damaged (arguments that are not a tuple)")
    return maker(*args)


def _reduce(u):  # REDUCE and NEWOBJ alike: a known name, called with plain data
    args = u.pop()
    u.stack.append(_call(u.pop(), args))


def _newobj_ex(u):
    kwargs, args = u.pop(), u.pop()
    if kwargs:
        raise TorchFileError("its pickled data builds an object with keyword arguments")
    u.stack.append(_call(u.pop(), args))


def _build(u):
    state = u.pop()
    target = u.stack[-1]
    if isinstance(target, _ModuleDict):
        # A module's state is its attributes; a ParameterDict's values are its parameters.
        parameters = state.get("_parameters") if isinstance(state, dict) else None
        if not isinstance(parameters, dict):
            raise TorchFileError("it holds a ParameterDict without parameters")
        target.update(parameters)
    elif isinstance(target, _DtypeBox):
        # numpy's dtype state: (version, byte order, ...); only the byte order matters here.
        if isinstance(state, tuple) and len(state) > 1 and state[1] in ("<", ">", "=", "|"):
            target.dtype = target.dtype.newbyteorder(state[1]) if state[1] != "|" else target.dtype
    elif isinstance(target, dict) and isinstance(state, dict):
        pass  # an OrderedDict's attributes (a state dict's `_metadata`): not its contents
    else:
        raise TorchFileError(f"its pickled data sets the state of a {type(target).__name__}, "
                             "which plain data does not have")


def _persid(u):
    u.stack.append(u.persistent_load(u.pop()))


def _append(u):
    value = u.pop()
    target = u.stack[-1]
    if not isinstance(target, list):
        raise TorchFileError("its pickled data appends to something that is not a list")
    target.append(value)


def _appends(u):
    items = u.pop_mark()
    target = u.stack[-1]
    if not isinstance(target, list):
        raise TorchFileError("its pickled data appends to something that is not a list")
    target.extend(items)


def _set_pairs(target, items):
    if not isinstance(target, dict) or len(items) % 2:
        raise TorchFileError("its pickled data sets items of something that is not a dict")
    for index in range(0, len(items), 2):
        target[items[index]] = items[index + 1]


def _setitem(u):
    value, key = u.pop(), u.pop()
    _set_pairs(u.stack[-1], [key, value])


def _setitems(u):
    items = u.pop_mark()
    _set_pairs(u.stack[-1], items)


def _additems(u):
    items = u.pop_mark()
    target = u.stack[-1]
    if not isinstance(target, set):
        raise TorchFileError("its pickled data adds to something that is not a set")
    target.update(items)


def _frozenset(u):
    u.stack.append(frozenset(u.pop_mark()))


def _mark(u):
    u.stack.append(_MARK)


def _pop(u):
    u.pop()


def _pop_mark(u):
    u.pop_mark()


def _dup(u):
    u.stack.append(u.stack[-1])


def _frame(u):
    u.take(8)  # a length hint for buffered readers


def _proto(u):
    if u.take(1)[0] > 5:
        raise TorchFileError("its pickled data uses a pickle protocol newer than 5")


_OPS: dict[bytes, Callable] = {
    b"\x80": _proto, b"\x95": _frame, b".": _stop,
    b"(": _mark, b"0": _pop, b"1": _pop_mark, b"2": _dup,
    b"N": _push(None), b"\x88": _push(True), b"\x89": _push(False),
    b"J": lambda u: u.stack.append(u.unpack("<i")),
    b"K": lambda u: u.stack.append(u.unpack("<B")),
    b"M": lambda u: u.stack.append(u.unpack("<H")),
    b"\x8a": _push_long("<B"), b"\x8b": _push_long("<i"),
    b"G": lambda u: u.stack.append(u.unpack(">d")),
    b"X": _push_str("<I"), b"\x8c": _push_str("<B"), b"\x8d": _push_str("<Q"),
    b"B": _push_bytes("<I"), b"C": _push_bytes("<B"), b"\x8e": _push_bytes("<Q"),
    b"}": lambda u: u.stack.append({}), b"]": lambda u: u.stack.append([]),
    b")": lambda u: u.stack.append(()), b"\x8f": lambda u: u.stack.append(set()),
    b"d": lambda u: u.stack.append(_pairs_dict(u.pop_mark())),
    b"l": lambda u: u.stack.append(u.pop_mark()),
    b"t": lambda u: u.stack.append(tuple(u.pop_mark())),
    b"\x85": _tuple(1), b"\x86": _tuple(2), b"\x87": _tuple(3),
    b"a": _append, b"e": _appends, b"s": _setitem, b"u": _setitems,
    b"\x90": _additems, b"\x91": _frozenset,
    b"q": _put("<B"), b"r": _put("<I"), b"\x94": _memoize,
    b"h": _get("<B"), b"j": _get("<I"),
    b"c": _global, b"\x93": _stack_global,
    b"R": _reduce, b"\x81": _reduce, b"\x92": _newobj_ex, b"b": _build,
    b"Q": _persid,
}


def _pairs_dict(items: list) -> dict:
    result: dict = {}
    _set_pairs(result, items)
    return result


def _storage_from_id(pid) -> Storage:
    """torch's persistent id: ('storage', storage class, key, location, numel[, view])."""
    if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"):
        raise TorchFileError("its pickled data refers to something other than a tensor storage")
    kind, key, _location, numel = pid[1:5]
    if not (isinstance(kind, _Name) and kind.module == "torch" and kind.name in STORAGE_DTYPES):
        raise TorchFileError(f"it holds tensors of a kind SD Desk does not read ({kind})")
    if not (isinstance(key, str) and _is_int(numel) and numel >= 0):
        raise TorchFileError("its pickled data names a storage badly")
    if len(pid) == 6 and pid[5] is not None:
        raise TorchFileError("it holds a view of a storage (an old torch feature SD Desk does not read)")
    return Storage(key, STORAGE_DTYPES[kind.name], numel)


# ------------------------------------------------------------------ files

class TorchFile:
    """One `.pt` file: `root` is its object as plain data, tensors as `TensorRef`s; `read`
    gives a tensor's values. Nothing but the pickle is read until `read` is called."""

    def __init__(self, path):
        self.path = Path(path)
        self._zip: Optional[zipfile.ZipFile] = None
        self._legacy: Optional[dict[str, int]] = None  # storage key -> where its bytes begin
        self._file = None
        self._storages: dict[str, Storage] = {}
        self._big_endian = False
        try:
            with open(self.path, "rb") as handle:
                start = handle.read(4)
            if start[:2] == b"PK":
                self.root = self._open_zip()
            elif start[:1] == b"\x80":  # a pickle: torch's format before 1.6 begins with one
                self.root = self._open_legacy()
            elif _looks_like_tar(self.path):
                raise TorchFileError("it is a PyTorch file in the oldest (tar) format, which SD Desk "
                                     "does not read; save it again with a recent torch")
            else:
                raise TorchFileError("it is not a PyTorch file (neither a zip archive nor a pickle)")
        except BaseException:
            self.close()
            raise

    # -- the zip format ----------------------------------------------------------------------
    def _open_zip(self):
        try:
            self._zip = zipfile.ZipFile(self.path)
            names = self._zip.namelist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as error:
            raise TorchFileError(f"it is a damaged zip archive ({error})") from None
        pickles = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1] + \
            (["data.pkl"] if "data.pkl" in names else [])
        if len(pickles) != 1:
            raise TorchFileError("it is a zip archive but not a PyTorch file (no single data.pkl in it)"
                                 if not pickles else "it holds more than one data.pkl")
        self._prefix = pickles[0][: -len("data.pkl")]
        order = f"{self._prefix}byteorder"
        if order in names:
            value = self._member(order, 16).decode("ascii", "replace").strip()
            if value not in ("little", "big"):
                raise TorchFileError(f"its byte order is {value[:16]!r}, neither little nor big")
            self._big_endian = value == "big"
        data = self._member(pickles[0], MAX_PICKLE_BYTES)
        return unpickle(data, self._persistent_load)[0]

    def _member(self, name: str, limit: int) -> bytes:
        info = self._zip.getinfo(name)
        self._check_size(info, info.file_size, limit)
        try:
            return self._zip.read(name)
        except (zipfile.BadZipFile, EOFError, ValueError, NotImplementedError, OSError) as error:
            raise TorchFileError(f"its entry {name} is damaged ({error})") from None

    def _check_size(self, info: zipfile.ZipInfo, need: int, limit: int) -> None:
        if info.file_size > limit:
            raise TorchFileError(f"its entry {info.filename} claims {info.file_size} bytes, more "
                                 f"than the {limit} allowed")
        if (info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size) or \
                info.file_size > MAX_EXPANSION * info.compress_size + (1 << 20):
            raise TorchFileError(f"its entry {info.filename} claims a size its stored bytes cannot hold")

    # -- the legacy format -------------------------------------------------------------------
    def _open_legacy(self):
        self._file = open(self.path, "rb")
        size = os.fstat(self._file.fileno()).st_size
        head = self._file.read(min(size, MAX_PICKLE_BYTES))
        magic, pos = unpickle(head, _no_storages)
        if magic != LEGACY_MAGIC:
            raise TorchFileError("it is a pickle, not a PyTorch file (no torch magic number)")
        version, pos = unpickle(head, _no_storages, pos)
        if version != LEGACY_VERSION:
            raise TorchFileError(f"it is a PyTorch file of an unknown format version ({version!r})")
        # System information; its `little_endian` describes the writer's machine only: torch
        # wrote legacy storages little-endian on every machine.
        _info, pos = unpickle(head, _no_storages, pos)
        root, pos = unpickle(head, self._persistent_load, pos)
        keys, pos = unpickle(head, _no_storages, pos)
        if not (isinstance(keys, list) and all(isinstance(k, str) for k in keys)):
            raise TorchFileError("its list of storages is damaged")
        # Each storage: its element count (8 bytes), then its bytes, in the listed order.
        self._legacy, where = {}, pos
        for key in keys:
            storage = self._storages.get(key)
            if storage is None:
                raise TorchFileError(f"it lists a storage {key!r} that no tensor uses")
            self._file.seek(where)
            count = self._file.read(8)
            if len(count) < 8 or struct.unpack("<q", count)[0] != storage.numel:
                raise TorchFileError(f"its storage {key!r} is damaged or cut short")
            self._legacy[key] = where + 8
            where += 8 + storage.numel * storage.dtype.itemsize
        if where > size:
            raise TorchFileError(f"it is cut short: its storages need {where} bytes, the file has {size}")
        return root

    # -- both --------------------------------------------------------------------------------
    def _persistent_load(self, pid) -> Storage:
        storage = _storage_from_id(pid)
        known = self._storages.setdefault(storage.key, storage)
        if known != storage:
            raise TorchFileError(f"its storage {storage.key!r} is described twice, differently")
        if self._zip is not None:
            name = f"{self._prefix}data/{storage.key}"
            try:
                info = self._zip.getinfo(name)
            except KeyError:
                raise TorchFileError(f"its data for storage {storage.key!r} is missing") from None
            need = storage.numel * storage.dtype.itemsize
            if info.file_size != need:
                raise TorchFileError(f"its storage {storage.key!r} holds {info.file_size} bytes where "
                                     f"its {storage.numel} elements need {need}")
            self._check_size(info, need, need)
        return storage

    def read(self, ref: TensorRef) -> np.ndarray:
        """The tensor's values: a new array of its shape and dtype (native byte order)."""
        storage = ref.storage
        dtype = storage.dtype
        raw = np.empty(storage.numel, np.uint8 if dtype == np.dtype("?") else dtype)
        buffer = memoryview(raw.view(np.uint8))
        if self._zip is not None:
            try:
                with self._zip.open(f"{self._prefix}data/{storage.key}") as member:
                    got = member.readinto(buffer)
                    if got != len(buffer) or member.read(1):
                        raise TorchFileError(f"its storage {storage.key!r} is cut short")
            except (zipfile.BadZipFile, EOFError, OSError, ValueError) as error:
                raise TorchFileError(f"its storage {storage.key!r} is damaged ({error})") from None
        else:
            self._file.seek(self._legacy[storage.key])
            if self._file.readinto(buffer) != len(buffer):
                raise TorchFileError(f"its storage {storage.key!r} is cut short")
        if self._big_endian and dtype.itemsize > 1:
            raw = raw.byteswap()
        if dtype == np.dtype("?"):
            raw = raw != 0
        itemsize = raw.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(
            raw[ref.offset:], shape=ref.shape, strides=tuple(s * itemsize for s in ref.stride),
            writeable=False) if math.prod(ref.shape) else np.empty(ref.shape, raw.dtype)
        return np.array(view)

    def close(self) -> None:
        for handle in (self._zip, self._file):
            if handle is not None:
                handle.close()
        self._zip = self._file = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _no_storages(pid):
    raise TorchFileError("its header pickles refer to tensor storages")


def _looks_like_tar(path: Path) -> bool:
    with open(path, "rb") as handle:
        handle.seek(257)
        return handle.read(5) == b"ustar"


def materialise(value: Any, read: Callable[[TensorRef], np.ndarray], depth: int = 0) -> Any:
    """`value` with every TensorRef replaced by its array (containers copied, not shared)."""
    if depth > 64:
        raise TorchFileError("its data nests more than 64 levels deep")
    if isinstance(value, TensorRef):
        return read(value)
    if isinstance(value, dict):
        return {k: materialise(v, read, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(materialise(v, read, depth + 1) for v in value)
    return value


def load(path) -> Any:
    """The whole file as plain data with numpy arrays (for small files: every tensor is read)."""
    with TorchFile(path) as file:
        return materialise(file.root, file.read)
