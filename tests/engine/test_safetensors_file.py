"""The safetensors reader and writer: round trips, laziness, and files built to hurt."""
import json
import struct
import time
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

from engine.models.safetensors_file import (SafetensorsError, SafetensorsFile, TensorInfo,
                                            write_safetensors)

DTYPES = [np.float16, np.float32, np.float64, ml_dtypes.bfloat16, np.int8, np.int16, np.int32,
          np.int64, np.uint8, np.uint16, np.uint32, np.uint64, np.bool_]
F8 = [getattr(ml_dtypes, n) for n in ("float8_e4m3fn", "float8_e5m2") if hasattr(ml_dtypes, n)]


def raw_file(path: Path, header, data: bytes = b"", length: int | None = None) -> Path:
    """A file with this header (a dict is dumped as JSON, bytes go in as they are) and data area."""
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw) if length is None else length) + raw + data)
    return path


def entry(dtype="F32", shape=(2,), offsets=(0, 8)):
    return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets)}


def error(path) -> str:
    with pytest.raises(SafetensorsError) as caught:
        SafetensorsFile(path)
    message = str(caught.value)
    assert "\n" not in message and str(path) not in message
    return message


# --- round trips -----------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES + F8, ids=lambda d: np.dtype(d).name)
def test_round_trip_every_dtype(tmp_path, dtype):
    rng = np.random.default_rng(0)
    tensors = {"matrix": (rng.standard_normal((3, 5)) * 4).astype(dtype),
               "scalar": np.array(7, dtype=dtype),
               "empty": np.zeros((2, 0, 3), dtype=dtype),
               "odd": np.arange(3).astype(dtype)}  # 3 one-byte items put later tensors off alignment
    path = tmp_path / "t.safetensors"
    write_safetensors(path, tensors)
    with SafetensorsFile(path) as f:
        assert f.keys() == sorted(tensors)
        for name, want in tensors.items():
            got = f.read(name)
            assert got.dtype == np.dtype(dtype) and got.shape == want.shape
            assert got.tobytes() == want.tobytes()
            assert isinstance(got, np.ndarray) and not isinstance(got, np.memmap)
            assert got.flags.owndata and got.flags.writeable


def test_mixed_dtypes_are_contiguous_and_sorted(tmp_path):
    path = tmp_path / "t.safetensors"
    write_safetensors(path, {"b": np.ones(3, np.int8), "a": np.ones((2, 2), np.float64)})
    f = SafetensorsFile(path)
    a, b = f.info("a"), f.info("b")
    assert a == TensorInfo("a", "F64", (2, 2), a.begin, a.begin + 32)
    assert b == TensorInfo("b", "I8", (3,), a.end, a.end + 3)
    assert a.begin % 8 == 0  # header padded with spaces to a multiple of 8
    assert path.read_bytes()[a.begin - 1:a.begin] == b" "
    assert "a" in f and "c" not in f and "__metadata__" not in f
    with pytest.raises(KeyError):
        f.info("c")
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_metadata_round_trip(tmp_path):
    path = tmp_path / "t.safetensors"
    meta = {"format": "pt", "note": "ünïcode\nand lines"}
    write_safetensors(path, {"x": np.zeros(1, np.float32)}, metadata=meta)
    assert SafetensorsFile(path).metadata == meta
    write_safetensors(path, {"x": np.zeros(1, np.float32)})
    assert SafetensorsFile(path).metadata == {}


def test_read_converts(tmp_path):
    values = np.array([0.1, -65504, 6e-8, np.inf, 1 / 3], np.float16)
    path = tmp_path / "t.safetensors"
    write_safetensors(path, {"h": values, "bf": values.astype(ml_dtypes.bfloat16)})
    f = SafetensorsFile(path)
    got = f.read("h", dtype="float32")
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, values.astype(np.float32))  # float16 -> float32 is exact
    np.testing.assert_array_equal(f.read("bf", dtype=np.float32),
                                  values.astype(ml_dtypes.bfloat16).astype(np.float32))


def test_bool_bytes_other_than_0_and_1_read_as_true(tmp_path):
    path = raw_file(tmp_path / "t.safetensors", {"b": entry("BOOL", (3,), (0, 3))}, bytes([0, 1, 7]))
    assert SafetensorsFile(path).read("b").tolist() == [False, True, True]


def test_writer_refuses_what_it_cannot_hold(tmp_path):
    with pytest.raises(TypeError):
        write_safetensors(tmp_path / "t.safetensors", {"c": np.zeros(2, np.complex64)})
    with pytest.raises(TypeError):
        write_safetensors(tmp_path / "t.safetensors", {"x": np.zeros(1)}, metadata={"n": 1})
    assert list(tmp_path.iterdir()) == []


# --- laziness --------------------------------------------------------------------------------

def test_opening_reads_only_the_header_and_a_read_only_its_tensor(tmp_path):
    """A 2 GB sparse data area: opening must not read it, and reading one small tensor reads
    that tensor's bytes, not the file (nor maps it, which would count it as resident)."""
    big = 2 * 1000**3
    header = {"big": entry("U8", (big,), (0, big)), "small": entry("F32", (2,), (big, big + 8))}
    path = raw_file(tmp_path / "t.safetensors", header)
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size + big + 8)  # sparse: costs no disk
    io = Path("/proc/self/io")

    def bytes_read():
        return int(io.read_text().split()[1]) if io.exists() else None  # rchar

    before = bytes_read()
    start = time.perf_counter()
    f = SafetensorsFile(path)
    assert time.perf_counter() - start < 1
    if before is not None:
        assert bytes_read() - before < 100_000
    assert f.info("big").end - f.info("big").begin == big

    before = bytes_read()
    assert f.read("small").tolist() == [0.0, 0.0]
    assert f.read("small", dtype="float64").dtype == np.float64
    if before is not None:
        assert bytes_read() - before < 100_000
    f.close()


def test_file_shrunk_after_opening(tmp_path):
    path = tmp_path / "t.safetensors"
    write_safetensors(path, {"x": np.ones(100, np.float32)})
    f = SafetensorsFile(path)
    with open(path, "r+b") as g:
        g.truncate(path.stat().st_size - 4)
    with pytest.raises(SafetensorsError, match="cut short"):
        f.read("x")


# --- hostile files ---------------------------------------------------------------------------

def test_too_short(tmp_path):
    path = tmp_path / "t.safetensors"
    path.write_bytes(b"abc")
    assert "too short" in error(path) and "3 bytes" in error(path)


@pytest.mark.parametrize("length", [2**63, 2**64 - 1, 2**63 - 1])
def test_header_length_absurd(tmp_path, length):
    path = raw_file(tmp_path / "t.safetensors", {}, length=length)
    assert f"claims {length} bytes" in error(path)


def test_header_longer_than_file(tmp_path):
    path = raw_file(tmp_path / "t.safetensors", b"{}", length=100)
    assert "more than the file holds" in error(path)


def test_header_length_zero(tmp_path):
    assert "empty" in error(raw_file(tmp_path / "t.safetensors", b"", length=0))


def test_header_over_limit(tmp_path, monkeypatch):
    import engine.models.safetensors_file as module
    monkeypatch.setattr(module, "MAX_HEADER", 10)
    path = raw_file(tmp_path / "t.safetensors", {"x": entry()}, bytes(8))
    assert "allowed" in error(path)


@pytest.mark.parametrize("raw, word", [
    (b"not json", "JSON"),
    (b"\xff\xfe{}", "UTF-8"),
    (b"[1, 2]", "not a JSON object"),
    (b"null", "not a JSON object"),
    (b"[" * 100_000, "nested"),
    (b'{"a": ' * 100_000, "nested"),
    (b'{"x": {}, "x": {}}', "twice"),
])
def test_header_not_a_json_object(tmp_path, raw, word):
    assert word in error(raw_file(tmp_path / "t.safetensors", raw))


def test_header_padded_with_spaces_is_fine(tmp_path):
    raw = json.dumps({"x": entry()}).encode() + b" " * 13
    assert SafetensorsFile(raw_file(tmp_path / "t.safetensors", raw, bytes(8))).keys() == ["x"]


@pytest.mark.parametrize("bad, word", [
    ([1, 2], "not an object"),
    (entry(dtype="F7"), "'F7'"),
    (entry(dtype=None), "unknown dtype"),
    ({"shape": [2], "data_offsets": [0, 8]}, "unknown dtype"),
    (entry(shape=(-2,)), "shape"),
    (entry(shape=(2.0,)), "shape"),
    (entry(shape=(True, 2)), "shape"),
    ({"dtype": "F32", "shape": "2", "data_offsets": [0, 8]}, "shape"),
    (entry(offsets=(8, 0)), "data_offsets"),
    (entry(offsets=(-8, 0)), "data_offsets"),
    (entry(offsets=(0, 8, 16)), "data_offsets"),
    (entry(offsets=(0, "8")), "data_offsets"),
    (entry(shape=(3,)), "disagrees with its shape"),
    (entry(shape=(2**40, 2**40, 2**40)), "disagrees with its shape"),
    (entry(offsets=(0, 4)), "disagrees with its shape"),
])
def test_bad_entry(tmp_path, bad, word):
    message = error(raw_file(tmp_path / "t.safetensors", {"x": bad}, bytes(64)))
    assert word in message and "'x'" in message


def test_overlapping_tensors(tmp_path):
    header = {"a": entry(offsets=(0, 8)), "mid": entry("F16", (2,), (16, 20)),
              "b": entry(offsets=(4, 12)), "empty": entry(shape=(0,), offsets=(6, 6))}
    message = error(raw_file(tmp_path / "t.safetensors", header, bytes(32)))
    assert "overlap" in message and "'a'" in message and "'b'" in message


def test_nested_range_overlaps(tmp_path):
    header = {"outer": entry("F32", (8,), (0, 32)), "inner": entry("F32", (1,), (8, 12)),
              "after": entry("F32", (1,), (16, 20))}
    message = error(raw_file(tmp_path / "t.safetensors", header, bytes(32)))
    assert "overlap" in message and "'outer'" in message


def test_cut_short(tmp_path):
    path = tmp_path / "t.safetensors"
    write_safetensors(path, {"x": np.ones(100, np.float32), "y": np.ones(3, np.int8)})
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(size - 1)
    message = error(path)
    assert "cut short" in message and "'y'" in message and f"ends at byte {size}" in message
    assert f"has {size - 1} bytes" in message


@pytest.mark.parametrize("meta", [[], "x", {"a": 1}, {"a": {"b": "c"}}, {"a": None}])
def test_bad_metadata(tmp_path, meta):
    path = raw_file(tmp_path / "t.safetensors", {"__metadata__": meta, "x": entry()}, bytes(8))
    assert "__metadata__" in error(path)


def test_f8_refused_by_name_when_ml_dtypes_lacks_it(tmp_path, monkeypatch):
    import engine.models.safetensors_file as module
    monkeypatch.delitem(module.DTYPES, "F8_E4M3", raising=False)
    path = raw_file(tmp_path / "t.safetensors", {"x": entry("F8_E4M3", (8,), (0, 8))}, bytes(8))
    assert "'F8_E4M3'" in error(path)
