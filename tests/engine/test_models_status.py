"""Model status and the verified-file cache: cheap at start-up, honest about damage."""
from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

import pytest

from engine.events import CancelToken
from engine.errors import MissingWeights
from engine import locations
from engine.models import registry, verify
from engine.models.errors import CorruptWeights
from engine.locations import find_file, search_dirs
from engine.models.registry import ModelSpec
from engine.models.status import model_status, require_installed
from engine.models.verify import VerifiedCache
from tests.engine.weights_server import loopback_only, sandbox, spec_and_files, write_files  # noqa: F401


@pytest.fixture
def count_hashes(monkeypatch):
    calls = []
    real = verify.sha256_file

    def counting(path, *args, **kwargs):
        calls.append(Path(path).name)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(verify, "sha256_file", counting)
    return calls


def test_nothing_installed_lists_every_file_as_missing(sandbox):
    status = model_status("sd-v1.4")
    assert status.state == "missing" and not status.ready
    assert [f.state for f in status.files] == ["missing"] * len(registry.SD_V1_4.files) == ["missing"] * 5
    # About 4.1 GB, as the issue says a person must expect.
    assert 4.0e9 < status.bytes_to_download < 4.3e9
    assert "kcv_diffusion_model.h5" in status.summary()


def test_a_model_without_files_is_always_installed(sandbox):
    assert model_status(ModelSpec("builtin", "Built in", "demo", ())).state == "installed"


def test_present_files_are_unverified_until_hashed_then_remembered(sandbox, spec_and_files, count_hashes):
    spec, contents = spec_and_files
    write_files(sandbox["models"], contents)

    assert model_status(spec).state == "unverified"
    assert count_hashes == []  # the cheap call reads no file

    assert model_status(spec, verify=True).state == "installed"
    assert sorted(count_hashes) == sorted(contents)

    # A new start (new cache object, same JSON file) trusts the record: no hashing.
    count_hashes.clear()
    assert model_status(spec, cache=VerifiedCache()).state == "installed"
    assert model_status(spec, verify=True, cache=VerifiedCache()).state == "installed"
    assert count_hashes == []
    assert (sandbox["data"] / verify.CACHE_FILE_NAME).is_file()


def test_a_changed_file_is_checked_again_and_found_corrupt(sandbox, spec_and_files):
    spec, contents = spec_and_files
    write_files(sandbox["models"], contents)
    assert model_status(spec, verify=True).state == "installed"

    path = sandbox["models"] / "unet.h5"
    damaged = bytearray(contents["unet.h5"])
    damaged[-1] ^= 1
    before = path.stat().st_mtime_ns
    path.write_bytes(bytes(damaged))  # same size
    # File systems stamp times in coarse ticks; make "later" unambiguous.
    os.utime(path, ns=(before + 10**9, before + 10**9))
    assert model_status(spec).files[1].state == "unverified"
    status = model_status(spec, verify=True)
    assert status.state == "corrupt"
    assert [f.state for f in status.files] == ["installed", "corrupt", "installed"]
    # The bad verdict is remembered too: the next start shows it without reading the file.
    assert model_status(spec).state == "corrupt"


def test_partial_download_is_reported_and_never_found_as_the_file(sandbox, spec_and_files):
    spec, contents = spec_and_files
    write_files(sandbox["models"], {"enc.h5.part": contents["enc.h5"][:1000]})
    status = model_status(spec)
    assert status.state == "partial"
    assert (status.files[0].state, status.files[0].size) == ("partial", 1000)
    assert find_file("enc.h5", search_dirs()) is None


def test_files_in_the_keras_cache_count(sandbox, spec_and_files):
    spec, contents = spec_and_files
    write_files(sandbox["keras_cache"], contents)
    status = model_status(spec, verify=True)
    assert status.state == "installed"
    assert {f.path.parent for f in status.files} == {sandbox["keras_cache"]}


def test_a_named_weights_folder_is_used_alone(sandbox, spec_and_files, tmp_path):
    spec, contents = spec_and_files
    write_files(sandbox["models"], contents)
    mine = tmp_path / "mine"
    write_files(mine, {"enc.h5": contents["enc.h5"]})
    status = model_status(spec, weights_dir=mine, verify=True)
    assert [f.state for f in status.files] == ["installed", "missing", "missing"]


def test_models_folder_setting_and_environment(sandbox, spec_and_files, tmp_path, monkeypatch):
    spec, contents = spec_and_files
    chosen = tmp_path / "big-disk"
    write_files(chosen, {"enc.h5": contents["enc.h5"]})
    monkeypatch.delenv("SD_DESK_MODELS_DIR")
    locations.set_models_dir_setting(chosen)
    try:
        assert locations.app_models_dir() == chosen
        assert model_status(spec).files[0].path == chosen / "enc.h5"
        assert model_status(spec).files[1].path == chosen / "unet.h5"  # where it will go
        monkeypatch.setenv("SD_DESK_MODELS_DIR", str(sandbox["models"]))
        assert locations.app_models_dir() == sandbox["models"]
    finally:
        locations.set_models_dir_setting(None)


def test_the_data_folder_moves_the_models_folder_unless_that_is_set_alone(monkeypatch, tmp_path):
    """SD_DESK_DATA_DIR once moved history and logs but left downloads (and a failed
    download's lock file) in the user's real data folder."""
    monkeypatch.delenv("SD_DESK_MODELS_DIR")
    monkeypatch.setenv("SD_DESK_DATA_DIR", str(tmp_path / "portable"))
    assert locations.app_models_dir() == tmp_path / "portable" / "models"
    monkeypatch.setenv("SD_DESK_MODELS_DIR", str(tmp_path / "elsewhere"))
    assert locations.app_models_dir() == tmp_path / "elsewhere"


def test_require_installed_gives_paths_or_the_reason(sandbox, spec_and_files):
    spec, contents = spec_and_files
    write_files(sandbox["models"], {"enc.h5": contents["enc.h5"]})
    with pytest.raises(MissingWeights, match="unet.h5"):
        require_installed(spec)

    write_files(sandbox["models"], {**contents, "vocab.txt.gz": b"not the vocabulary"})
    with pytest.raises(CorruptWeights, match="vocab.txt.gz"):
        require_installed(spec)

    write_files(sandbox["models"], contents)
    paths = require_installed(spec)
    assert {role: p.read_bytes() for role, p in paths.items()} == {
        f.role: contents[f.name] for f in spec.files}


def test_the_loaders_check_passes_good_files_and_names_the_fix_for_bad_ones(sandbox, spec_and_files,
                                                                          count_hashes):
    spec, contents = spec_and_files
    write_files(sandbox["models"], {**contents, "unet.h5": b"\0" * 100})
    enc, unet = spec.files[0], spec.files[1]
    verify.check_weight_file(sandbox["models"] / "enc.h5", enc)
    verify.check_weight_file(sandbox["models"] / "enc.h5", enc)
    assert count_hashes == ["enc.h5"]  # the second load trusts the first check
    with pytest.raises(CorruptWeights, match="damaged") as info:
        verify.check_weight_file(sandbox["models"] / "unet.h5", unet)
    assert str(sandbox["models"] / "unet.h5") in str(info.value)


def test_cancelled_verification_leaves_files_unverified(sandbox, spec_and_files):
    spec, contents = spec_and_files
    write_files(sandbox["models"], contents)
    cancel = CancelToken()
    cancel.cancel()
    assert model_status(spec, verify=True, cancel=cancel).state == "unverified"
    assert model_status(spec, verify=True).state == "installed"


def test_a_mangled_cache_file_only_costs_a_rehash(sandbox, spec_and_files):
    spec, contents = spec_and_files
    write_files(sandbox["models"], contents)
    sandbox["data"].mkdir(parents=True)
    (sandbox["data"] / verify.CACHE_FILE_NAME).write_text("{not json")
    assert model_status(spec).state == "unverified"
    assert model_status(spec, verify=True).state == "installed"


def test_manifest_matches_kerascv_sources():
    """Names, URLs and sha256 must be KerasCV's own, or its cached files would not be reused."""
    spec = importlib.util.find_spec("keras_cv")
    assert spec is not None and spec.submodule_search_locations
    sd_dir = Path(list(spec.submodule_search_locations)[0]) / "src" / "models" / "stable_diffusion"
    source = "\n".join(p.read_text() for p in sd_dir.glob("*.py"))
    pairs = set(re.findall(r'"(https://[^"]+)",?\s*(?:#[^\n]*)?\s*file_hash="([0-9a-f]{64})"', source))
    assert len(pairs) >= 5  # v1 encoder, diffusion, decoder, v2 encoder and diffusion, vocabulary
    for model_id in ("sd-v1.4", "sd-v2.1"):
        for wf in registry.get_model(model_id).files:
            assert (wf.url, wf.sha256) in pairs, wf.name
            # get_file names a download after its URL's last path segment (or fname, for the vocab).
            assert wf.name in wf.url


def test_status_and_download_do_not_load_tensorflow():
    """The window asks for status at start-up; pulling in TensorFlow would cost seconds."""
    import subprocess
    import sys
    code = ("import sys, engine.models.status, engine.models.download, engine.models.importer, "
            "engine.commands.models; "
            "print([m for m in ('tensorflow', 'keras', 'keras_cv') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "[]"


def test_a_missing_file_only_image_to_image_needs_leaves_the_model_installed(sandbox, spec_and_files):
    import dataclasses
    import hashlib

    from engine.models.registry import WeightFile
    spec, contents = spec_and_files
    encoder_bytes = b"an encoder" * 1000
    optional = WeightFile("vae.h5", "image_encoder", "https://weights.invalid/vae.h5",
                          hashlib.sha256(encoder_bytes).hexdigest(), 137_000_000, only_for="image to image")
    spec = dataclasses.replace(spec, files=spec.files + (optional,))
    write_files(sandbox["models"], contents)

    status = model_status(spec, verify=True)
    assert status.state == "installed" and status.ready
    assert status.summary() == "installed; image to image needs vae.h5 (about 137.0 MB)"

    (sandbox["models"] / "vae.h5").write_bytes(b"not it")  # present but damaged: not installed
    assert model_status(spec, verify=True).state == "corrupt"

    (sandbox["models"] / "vae.h5").write_bytes(encoder_bytes)
    assert model_status(spec, verify=True).summary() == "installed"
