"""Weight files are judged by their structure before any model is built: the real layout passes,
every kind of damage is named, and the default model is never one whose files fail."""
from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from engine.models import structure
from engine.default_model import default_model_id
from engine.models.errors import DamagedWeightFile
from engine.models.registry import SD_V1_4, SD_V2_1
from engine.models.status import CORRUPT, model_status, require_installed

ENCODER = SD_V1_4.file_for("text_encoder")
UNET = SD_V1_4.file_for("diffusion_model")
DECODER = SD_V1_4.file_for("decoder")
VOCABULARY = SD_V1_4.file_for("vocabulary")


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No shared cache on this machine leaks in: only folders the test fills."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("SD_DESK_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("SD_DESK_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


def linked_copy(source: Path, target: Path) -> Path:
    """A folder of links to the good files, so one can be replaced without copying gigabytes."""
    target.mkdir()
    for wf in SD_V1_4.files:
        (target / wf.name).symlink_to(source / wf.name)
    return target


def replace(folder: Path, name: str, content: bytes = None, source: Path = None) -> Path:
    path = folder / name
    path.unlink()
    if source is not None:
        shutil.copyfile(source, path)
    else:
        path.write_bytes(content)
    return path


# ---------------------------------------------------------------- without real weights

@pytest.mark.parametrize("content, expected", [
    (b"", "it is empty (0 bytes)"),
    (b"<html>Rate limit exceeded</html>" * 10, "it is not an HDF5 file"),
    (bytes(range(256)) * 64, "it is not an HDF5 file"),
])
def test_a_file_that_is_not_hdf5_is_named(tmp_path, content, expected):
    path = tmp_path / ENCODER.name
    path.write_bytes(content)
    assert structure.structure_problem(path, ENCODER).startswith(expected)
    with pytest.raises(DamagedWeightFile) as caught:
        structure.check_structure(path, ENCODER)
    message = str(caught.value)
    assert str(path) in message and expected in message and "\n" not in message
    assert "models download sd-v1.4" in message


def test_an_empty_hdf5_file_is_named(tmp_path):
    path = tmp_path / UNET.name
    h5py.File(path, "w").close()
    assert structure.structure_problem(path, UNET) == \
        "it is an HDF5 file with no Keras weights in it (no layer list)"


def test_a_truncated_hdf5_file_is_named(tmp_path):
    path = tmp_path / DECODER.name
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=np.zeros(100_000, np.uint8))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert structure.structure_problem(path, DECODER).startswith("it is truncated")


@pytest.mark.parametrize("content, expected", [
    (b"", "it is empty"),
    (b"#version: 0.2\nt h\n", "it is not a gzip file"),
    (gzip.compress(b"#version: 0.2\nt h\n" * 1000, mtime=0)[:-30], "it is truncated"),
    (gzip.compress("#version: 0.2\nt h\n".encode(), mtime=0)[:-8] + b"\0" * 8, "its compressed data is damaged"),
    (gzip.compress(b"\xff\xfe not text", mtime=0), "it is not UTF-8 text"),
    (gzip.compress(b"t h\na n\n", mtime=0), "no '#version' line"),
    (gzip.compress(b"#version: 0.2\nt h\nnot a merge line\n", mtime=0), "line 3 is not a merge"),
])
def test_a_damaged_vocabulary_is_named(tmp_path, content, expected):
    path = tmp_path / VOCABULARY.name
    path.write_bytes(content)
    assert expected in structure.structure_problem(path, VOCABULARY)


def test_the_placeholder_vocabulary_passes(tmp_path):
    from engine.backends.placeholder_vocab import write_placeholder_vocabulary
    path = write_placeholder_vocabulary(tmp_path / VOCABULARY.name)
    assert structure.structure_problem(path, VOCABULARY) is None


def test_a_verdict_is_remembered_until_the_file_changes(tmp_path, monkeypatch):
    path = tmp_path / ENCODER.name
    path.write_bytes(b"garbage")
    calls = []
    real = structure._examine
    monkeypatch.setattr(structure, "_examine", lambda *a: calls.append(1) or real(*a))
    assert structure.structure_problem(path, ENCODER) == structure.structure_problem(path, ENCODER)
    assert len(calls) == 1
    path.write_bytes(b"")  # a new size: looked at again
    assert structure.structure_problem(path, ENCODER) == "it is empty (0 bytes)"
    assert len(calls) == 2


def test_damaged_files_with_the_right_names_are_not_the_default_model(isolated):
    weights = isolated / "weights"
    weights.mkdir()
    for wf in SD_V1_4.files:
        (weights / wf.name).write_bytes(b"\0" * 1024)
    assert default_model_id(weights) == "demo"
    status = model_status(SD_V1_4, weights)
    assert status.state == CORRUPT and all(f.problem for f in status.files)
    with pytest.raises(DamagedWeightFile, match="is damaged: it is not an HDF5 file"):
        require_installed(SD_V1_4, weights, verify=False)


# ---------------------------------------------------------------- against the real architecture

def test_random_weights_in_kerascvs_format_pass(sd_weights, isolated):
    folder = sd_weights[0]
    for wf in SD_V1_4.files:
        assert structure.structure_problem(folder / wf.name, wf) is None, wf.name
    assert default_model_id(folder) == "sd-v1.4"
    assert set(require_installed(SD_V1_4, folder, verify=False)) == {f.role for f in SD_V1_4.files}


def test_weights_of_another_model_are_named(sd_weights, tmp_path):
    folder = sd_weights[0]
    v2_encoder = SD_V2_1.file_for("text_encoder")
    problem = structure.structure_problem(folder / ENCODER.name, v2_encoder)
    assert problem == ("it holds weights for 14 layers, where KerasCV's text encoder has 25 "
                       "(weights for another model?)")
    # Same layer count, one array of the wrong shape: a decoder with one kernel altered.
    path = tmp_path / DECODER.name
    shutil.copyfile(folder / DECODER.name, path)
    with h5py.File(path, "r+") as f:
        layer = next(n for n in f.attrs["layer_names"] if len(f[n].attrs["weight_names"]))
        layer = layer.decode() if isinstance(layer, bytes) else layer
        name = f[layer].attrs["weight_names"][0]
        name = name.decode() if isinstance(name, bytes) else name
        shape = f[layer][name].shape
        del f[layer][name]
        f[layer].create_dataset(name, data=np.zeros(8, np.float32))
    problem = structure.structure_problem(path, DECODER)
    assert f"has shape (8,), where KerasCV's image decoder needs {tuple(shape)}" in problem


def test_a_truncated_real_file_and_the_default_model(sd_weights, isolated):
    weights = linked_copy(sd_weights[0], isolated / "weights")
    data = (sd_weights[0] / DECODER.name).read_bytes()
    path = replace(weights, DECODER.name, data[: len(data) * 2 // 3])
    assert structure.structure_problem(path, DECODER).startswith("it is truncated")
    assert default_model_id(weights) == "demo"
    assert model_status(SD_V1_4, weights).files[2].problem.startswith("it is truncated")


def test_the_engine_refuses_a_damaged_weights_dir_before_building(sd_weights, isolated, small_request,
                                                                   monkeypatch):
    from engine.backends import keras_sd
    from engine.pipeline import Engine

    weights = linked_copy(sd_weights[0], isolated / "weights")
    replace(weights, UNET.name, b"")
    monkeypatch.setattr(keras_sd.Components, "__init__",
                        lambda *a: pytest.fail("built a model for a damaged file"))
    with pytest.raises(DamagedWeightFile, match=r"kcv_diffusion_model.h5 is damaged: it is empty"):
        Engine(weights_dir=weights).generate(small_request)
