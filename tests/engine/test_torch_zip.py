"""The `.pt` reader: torch's formats read as plain data, and files that ask for code refused
without anything in them being imported or called."""
import io
import os
import pickle
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from collections import OrderedDict
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

from engine.models.torch_zip import TensorRef, TorchFile, TorchFileError, load, unpickle
from tests.engine.embedding_files import (Call, Name, Storage, Tensor,
                                          a1111_embedding, dumps, write_legacy_pt, write_pt)

DTYPES = [np.float32, np.float16, ml_dtypes.bfloat16, np.float64, np.int64, np.int32, np.int16,
          np.int8, np.uint8, np.bool_]


def refusal(path) -> str:
    with pytest.raises(TorchFileError) as caught:
        load(path)
    message = str(caught.value)
    assert "\n" not in message and str(path) not in message
    return message


# --- what torch writes, read back -----------------------------------------------------------

def test_an_a1111_embedding_reads_back_as_plain_data(tmp_path):
    vectors = np.random.default_rng(0).standard_normal((2, 768)).astype(np.float32)
    data = load(write_pt(tmp_path / "style.pt", a1111_embedding(vectors, name="style")))
    assert set(data) == {"string_to_token", "string_to_param", "name", "step", "sd_checkpoint",
                         "sd_checkpoint_name"}
    assert data["name"] == "style" and data["step"] == 100 and data["string_to_token"] == {"*": 265}
    np.testing.assert_array_equal(data["string_to_param"]["*"], vectors)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_every_storage_type_reads_with_its_values_and_dtype(tmp_path, dtype):
    values = (np.arange(12) % 5 - 2).reshape(3, 4).astype(dtype)
    got = load(write_pt(tmp_path / "t.pt", {"t": Tensor(values)}))["t"]
    assert got.dtype == np.dtype(dtype) and got.shape == (3, 4)
    np.testing.assert_array_equal(got, values)


def test_strides_offsets_and_shared_storages_are_honoured(tmp_path):
    base = np.arange(24, dtype=np.float32)
    storage = Storage(base)
    obj = {"whole": Tensor(storage=storage, shape=(4, 6)),
           "transposed": Tensor(storage=storage, shape=(6, 4), stride=(1, 6)),
           "row": Tensor(storage=storage, offset=6, shape=(6,)),
           "column": Tensor(storage=storage, offset=2, shape=(4,), stride=(6,)),
           "scalar": Tensor(storage=storage, offset=23, shape=()),
           "empty": Tensor(np.zeros((0, 768), np.float32))}
    path = write_pt(tmp_path / "views.pt", obj)
    assert len([n for n in zipfile.ZipFile(path).namelist() if "/data/" in n]) == 2  # one shared
    data = load(path)
    grid = base.reshape(4, 6)
    np.testing.assert_array_equal(data["whole"], grid)
    np.testing.assert_array_equal(data["transposed"], grid.T)
    np.testing.assert_array_equal(data["row"], grid[1])
    np.testing.assert_array_equal(data["column"], grid[:, 2])
    assert data["scalar"].shape == () and data["scalar"] == 23
    assert data["empty"].shape == (0, 768)
    data["row"][0] = -1  # each array owns its values
    assert data["whole"][1, 0] == 6


def test_tensor_refs_are_read_only_when_asked_for(tmp_path):
    path = write_pt(tmp_path / "lazy.pt", {"a": Tensor(np.ones((2, 3), np.float16))})
    with TorchFile(path) as file:
        ref = file.root["a"]
        assert isinstance(ref, TensorRef) and ref.shape == (2, 3) and ref.dtype == np.float16
        np.testing.assert_array_equal(file.read(ref), np.ones((2, 3)))


def test_a_parameter_dict_becomes_the_dict_of_its_parameters(tmp_path):
    vectors = np.full((1, 768), 0.5, np.float32)
    data = load(write_pt(tmp_path / "ti.pt", a1111_embedding(vectors, parameter_dict=True)))
    params = data["string_to_param"]
    assert type(params) is dict and list(params) == ["*"]
    np.testing.assert_array_equal(params["*"], vectors)


def test_a_state_dicts_metadata_and_numpy_scalars_are_plain_data(tmp_path):
    state = OrderedDict(weight=Tensor(np.eye(2, dtype=np.float32)))
    state._metadata = OrderedDict({"": {"version": 1}})  # what module.state_dict() carries
    data = load(write_pt(tmp_path / "sd.pt", {"state_dict": state, "global_step": np.int64(470000),
                                              "lr": np.float32(1.5), "tags": {"a", "b"},
                                              "raw": b"\x00\xff", "pi": 3.25, "big": 2**70,
                                              "neg": -5, "flags": (True, False, None)}))
    assert list(data["state_dict"]) == ["weight"]
    np.testing.assert_array_equal(data["state_dict"]["weight"], np.eye(2))
    assert data["global_step"] == 470000 and type(data["global_step"]) is int
    assert data["lr"] == 1.5 and data["tags"] == {"a", "b"} and data["raw"] == b"\x00\xff"
    assert (data["pi"], data["big"], data["neg"], data["flags"]) == (3.25, 2**70, -5, (True, False, None))


@pytest.mark.parametrize("prefix", ["archive", "my embedding", ""])
def test_the_archive_folder_may_have_any_name(tmp_path, prefix):
    obj = {"t": Tensor(np.arange(3, dtype=np.float32))}
    path = tmp_path / "x.pt"
    if prefix:
        write_pt(path, obj, prefix=prefix)
    else:  # no folder at all: data.pkl at the top
        data, storages = dumps(obj)
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("data.pkl", data)
            archive.writestr("data/0", storages[0].array.tobytes())
    np.testing.assert_array_equal(load(path)["t"], [0, 1, 2])


def test_a_big_endian_file_reads_in_native_order(tmp_path):
    values = np.array([1.5, -2.25, 3e5], np.float32)
    got = load(write_pt(tmp_path / "be.pt", {"t": Tensor(values)}, big_endian=True))["t"]
    np.testing.assert_array_equal(got, values)
    assert got.dtype.isnative


@pytest.mark.parametrize("big_endian_machine", [False, True])
def test_the_legacy_format_reads_too(tmp_path, big_endian_machine):
    vectors = np.random.default_rng(1).standard_normal((3, 768)).astype(np.float16)
    storage = Storage(np.arange(10, dtype=np.int64))
    path = write_legacy_pt(tmp_path / "old.pt",
                           {**a1111_embedding(vectors), "view": Tensor(storage=storage, offset=4, shape=(3,))},
                           big_endian_machine=big_endian_machine)
    data = load(path)
    np.testing.assert_array_equal(data["string_to_param"]["*"], vectors)
    np.testing.assert_array_equal(data["view"], [4, 5, 6])


# --- refused: names, opcodes and shapes that are not tensors --------------------------------

def test_a_file_that_calls_anything_else_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "ran"
    call = Call("builtins", "exec", (f"open({str(marker)!r}, 'w').close()",))
    path = write_pt(tmp_path / "evil.pt", {"string_to_param": {"*": call}})
    message = refusal(path)
    assert "builtins.exec" in message and "neither a tensor nor plain data" in message
    assert not marker.exists()
    # The file is armed: Python's own pickle runs it (the reason SD Desk never uses it).
    with zipfile.ZipFile(path) as archive:
        pickle.loads(archive.read("evil/data.pkl"))
    assert marker.exists()


def test_a_name_is_refused_without_being_imported(tmp_path):
    module = "sd_desk_no_such_module_xyz"
    message = refusal(write_pt(tmp_path / "m.pt", {"model": Call(module, "Net")}))
    assert f"{module}.Net" in message and module not in sys.modules


def test_a_torch_module_object_is_refused(tmp_path):
    message = refusal(write_pt(tmp_path / "m.pt", {"m": Call("torch.nn.modules.linear", "Linear")}))
    assert "torch.nn.modules.linear.Linear" in message


def test_a_name_stored_as_a_value_is_refused_too(tmp_path):
    assert "os.system" in refusal(write_pt(tmp_path / "n.pt", {"f": Name("os", "system")}))


def test_protocol_zero_instance_opcodes_are_refused(tmp_path):
    # INST ('i') imports and calls a class in one opcode: not what torch writes.
    data = b"(i__main__\nThing\n(dp0\nb."
    path = tmp_path / "inst.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("inst/data.pkl", b"\x80\x02" + data)
    assert "opcode" in refusal(path)


@pytest.mark.parametrize("pid, words", [
    (("module", "x"), "other than a tensor storage"),
    (("storage", Name("torch", "ComplexFloatStorage"), "0", "cpu", 4), "ComplexFloatStorage"),
    (("storage", Name("torch", "FloatStorage"), 0, "cpu", 4), "names a storage badly"),
    (("storage", Name("torch", "FloatStorage"), "0", "cpu", -1), "names a storage badly"),
])
def test_bad_persistent_ids_are_refused(tmp_path, pid, words):
    class Pickler(pickle._Pickler):
        dispatch = dict(pickle._Pickler.dispatch)
        dispatch[Name] = lambda self, obj: (self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode()),
                                            self.memoize(obj))

        def persistent_id(self, obj):
            return pid if obj == "THE STORAGE" else None

    out = io.BytesIO()
    Pickler(out, protocol=2).dump({"t": "THE STORAGE"})
    path = tmp_path / "pid.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("pid/data.pkl", out.getvalue())
        archive.writestr("pid/data/0", b"\x00" * 16)
    assert words in refusal(path)


def test_a_tensor_reaching_past_its_storage_is_refused(tmp_path):
    storage = Storage(np.arange(6, dtype=np.float32))
    for tensor in (Tensor(storage=storage, shape=(2, 4)), Tensor(storage=storage, offset=5, shape=(2,)),
                   Tensor(storage=storage, shape=(3, 2), stride=(3, 1))):
        assert "past the end of its storage" in refusal(write_pt(tmp_path / "far.pt", {"t": tensor}))


def test_a_tensor_with_a_negative_stride_is_refused(tmp_path):
    tensor = Tensor(storage=Storage(np.arange(6, dtype=np.float32)), offset=5, shape=(3,), stride=(-1,))
    assert "bad size, stride or offset" in refusal(write_pt(tmp_path / "neg.pt", {"t": tensor}))


def test_a_list_that_contains_itself_is_refused_when_read_whole(tmp_path):
    loop: list = []
    loop.append(loop)
    assert "nests more than" in refusal(write_pt(tmp_path / "loop.pt", {"loop": loop}))


# --- refused: damaged files -----------------------------------------------------------------

def test_files_that_are_not_pytorch_files_are_named_so(tmp_path):
    assert "not a PyTorch file" in refusal(_written(tmp_path / "text.pt", b"hello, world"))
    for protocol in (2, 4):
        plain = pickle.dumps({"a": 1}, protocol=protocol)
        assert "no torch magic number" in refusal(_written(tmp_path / "pickle.pt", plain))
    with zipfile.ZipFile(tmp_path / "other.pt", "w") as archive:
        archive.writestr("readme.txt", "hi")
    assert "no single data.pkl" in refusal(tmp_path / "other.pt")


def test_the_tar_format_is_refused_with_its_name(tmp_path):
    path = tmp_path / "ancient.pt"
    with tarfile.open(path, "w") as archive:
        info = tarfile.TarInfo("sys_info")
        info.size = 2
        archive.addfile(info, io.BytesIO(b"{}"))
    assert "oldest (tar) format" in refusal(path)


def test_a_cut_short_zip_is_damaged(tmp_path):
    whole = write_pt(tmp_path / "whole.pt", a1111_embedding(np.ones((1, 768), np.float32))).read_bytes()
    assert "damaged zip archive" in refusal(_written(tmp_path / "cut.pt", whole[: len(whole) // 2]))


def test_a_cut_short_pickle_is_damaged(tmp_path):
    data, _ = dumps({"a": [1, 2, 3], "b": "text"})
    for end in (3, len(data) // 2, len(data) - 1):
        path = write_pt(tmp_path / "p.pt", {}, members={"p/data.pkl": data[:end]})
        message = refusal(path)
        assert "cut short" in message or "damaged" in message


def test_missing_or_wrong_sized_storage_data_is_refused(tmp_path):
    obj = {"t": Tensor(np.ones(4, np.float32))}
    assert "missing" in refusal(write_pt(tmp_path / "a.pt", obj, members={"a/data/0": None}))
    assert "holds 12 bytes where its 4 elements need 16" in refusal(
        write_pt(tmp_path / "b.pt", obj, members={"b/data/0": b"\x00" * 12}))


def test_changed_storage_bytes_fail_the_zip_check(tmp_path):
    path = write_pt(tmp_path / "crc.pt", {"t": Tensor(np.arange(64, dtype=np.float32))})
    raw = bytearray(path.read_bytes())
    at = raw.find(np.arange(64, dtype=np.float32).tobytes()) + 100
    raw[at] ^= 0xFF
    path.write_bytes(bytes(raw))
    assert "damaged" in refusal(path)


def test_a_storage_that_claims_more_than_its_compressed_bytes_hold_is_refused(tmp_path):
    data, _ = dumps({"t": Tensor(np.zeros(2_000_000, np.float32))})
    path = tmp_path / "bomb.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("bomb/data.pkl", data)
        archive.writestr("bomb/data/0", bytes(8_000_000), compress_type=zipfile.ZIP_DEFLATED)
    assert "claims a size its stored bytes cannot hold" in refusal(path)


def test_an_unknown_byte_order_is_refused(tmp_path):
    path = write_pt(tmp_path / "bo.pt", {}, members={"bo/byteorder": b"middle"})
    assert "byte order" in refusal(path)


def test_a_cut_short_legacy_file_is_refused(tmp_path):
    whole = write_legacy_pt(tmp_path / "old.pt", {"t": Tensor(np.ones(100, np.float32))}).read_bytes()
    assert "cut short" in refusal(_written(tmp_path / "cut.pt", whole[:-10]))


def test_the_interpreter_reports_where_its_pickle_ends():
    first, second = pickle.dumps(7, protocol=2), pickle.dumps("x", protocol=2)
    value, end = unpickle(first + second, lambda pid: None)
    assert (value, end) == (7, len(first))
    assert unpickle(first + second, lambda pid: None, end) == ("x", len(first) + len(second))


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_plain_data_of_every_later_protocol_reads(protocol):
    value = {"a": [1, 2.5, "three", b"four", None, True], "b": (1, (2, 3)), "c": {1, 2},
             "d": frozenset({"x"}), "e": -(2**40), "f": "é" * 300}
    assert unpickle(pickle.dumps(value, protocol=protocol), lambda pid: None)[0] == value


def _written(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# --- against torch itself -------------------------------------------------------------------

REFERENCE = os.environ.get("SD_DESK_REFERENCE_PYTHON")

TORCH_SCRIPT = textwrap.dedent("""
    import sys, collections, numpy as np, torch
    out = sys.argv[1]
    torch.manual_seed(0)
    vec = torch.randn(3, 768)
    expected = {}
    # A1111's Embedding.save, as it calls torch.save.
    torch.save({"string_to_token": {"*": 265}, "string_to_param": {"*": vec}, "name": "a1111",
                "step": 1200, "sd_checkpoint": "abcdef12", "sd_checkpoint_name": "model"},
               out + "/a1111.pt")
    expected["a1111"] = vec.numpy()
    # The original textual-inversion code: a ParameterDict of Parameters, in float16.
    half = torch.randn(2, 1024).half()
    torch.save({"string_to_param": torch.nn.ParameterDict({"*": torch.nn.Parameter(half)}),
                "string_to_token": {"*": torch.tensor(265)}}, out + "/paramdict.pt")
    expected["paramdict"] = half.numpy()
    # diffusers' learned_embeds.bin, bfloat16, legacy format.
    bf = torch.randn(768).bfloat16()
    torch.save({"<cat-toy>": bf}, out + "/legacy.bin", _use_new_zipfile_serialization=False)
    expected["legacy"] = bf.float().numpy()
    # Views: a transposed, offset slice of a shared storage; a state dict with _metadata.
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    module = torch.nn.Linear(3, 2)
    torch.save({"t": base.t()[1:], "row": base[2], "state": module.state_dict(),
                "step": np.int64(7)}, out + "/views.pt")
    expected["t"], expected["row"] = base.t()[1:].numpy(), base[2].numpy()
    expected["weight"] = module.weight.detach().numpy()
    np.savez(out + "/expected.npz", **expected)
""")


@pytest.mark.skipif(not REFERENCE, reason="set SD_DESK_REFERENCE_PYTHON to a Python with torch "
                                          "to read files torch.save wrote")
def test_files_written_by_torch_itself_read_the_same(tmp_path):
    subprocess.run([REFERENCE, "-c", TORCH_SCRIPT, str(tmp_path)], check=True, timeout=300)
    expected = np.load(tmp_path / "expected.npz")
    a1111 = load(tmp_path / "a1111.pt")
    np.testing.assert_array_equal(a1111["string_to_param"]["*"], expected["a1111"])
    assert (a1111["name"], a1111["step"]) == ("a1111", 1200)
    np.testing.assert_array_equal(load(tmp_path / "paramdict.pt")["string_to_param"]["*"],
                                  expected["paramdict"])
    legacy = load(tmp_path / "legacy.bin")["<cat-toy>"]
    assert legacy.dtype == ml_dtypes.bfloat16
    np.testing.assert_array_equal(legacy.astype(np.float32), expected["legacy"])
    views = load(tmp_path / "views.pt")
    np.testing.assert_array_equal(views["t"], expected["t"])
    np.testing.assert_array_equal(views["row"], expected["row"])
    np.testing.assert_array_equal(views["state"]["weight"], expected["weight"])
    assert views["step"] == 7
