"""LoRA and embedding folders: which files a prompt can name, which folder wins a shared
name, folders kept and folders for one run, and A1111's hashes with their cache."""
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

from engine.models import extra_networks as networks
from engine.models.extra_networks import (EMBEDDING, LORA, NetworkFile, NetworkFileError,
                                          add_run_folders, duplicates, embedding_dirs,
                                          embedding_hash, find, hashes_text, list_files,
                                          lora_dirs, lora_hash, save_folder, saved_folders)
from engine.models.safetensors_file import write_safetensors
from engine.settings_file import read_settings

# sha256("abc"), the FIPS 180-2 example: a known answer for both hashes.
ABC = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


@pytest.fixture(autouse=True)
def places(tmp_path, monkeypatch):
    """A models folder and settings of this test's own, and no run folders from another."""
    monkeypatch.setenv("SD_DESK_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("SD_DESK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(networks, "_run_folders", {kind: [] for kind in networks.KINDS})
    return tmp_path


def touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def names(files) -> list[str]:
    return [f.name for f in files]


# --- folders -----------------------------------------------------------------------------------

def test_the_default_folders_live_in_the_models_folder(places):
    assert lora_dirs() == [places / "models" / "loras"]
    assert embedding_dirs() == [places / "models" / "embeddings"]
    assert not (places / "models" / "loras").exists()  # listing creates nothing
    assert networks.default_dir(LORA, create=True).is_dir()


def test_kept_folders_come_after_the_default_and_run_folders_last(places):
    kept, run = places / "kept", places / "run"
    kept.mkdir()
    assert save_folder(LORA, kept) == [kept]
    add_run_folders(LORA, [run])
    assert lora_dirs() == [places / "models" / "loras", kept, run]
    assert embedding_dirs() == [places / "models" / "embeddings"]  # each kind its own


def test_a_kept_folder_is_saved_and_a_run_folder_is_not(places):
    kept = places / "kept"
    kept.mkdir()
    save_folder(EMBEDDING, kept)
    add_run_folders(EMBEDDING, [places / "run"])
    assert read_settings()["embedding_dirs"] == [str(kept)]
    assert saved_folders(EMBEDDING) == [kept] and saved_folders(LORA) == []
    assert save_folder(EMBEDDING, kept, keep=False) == []
    assert "embedding_dirs" not in read_settings()


def test_keeping_something_that_is_not_a_folder_is_refused(places):
    with pytest.raises(NetworkFileError, match="is not a folder"):
        save_folder(LORA, places / "absent")
    assert saved_folders(LORA) == []


def test_an_unknown_kind_is_refused():
    with pytest.raises(NetworkFileError, match="Unknown kind"):
        list_files("hypernetwork")


# --- listing and finding ------------------------------------------------------------------------

def test_loras_are_safetensors_files_found_in_subfolders_too(places):
    root = places / "models" / "loras"
    for name in ("b.safetensors", "style/a.safetensors", "deep/er/C.SAFETENSORS", "old.pt",
                 "model.ckpt", ".hidden.safetensors", "notes.txt", ".cache/x.safetensors"):
        touch(root / name)
    touch(root / "empty.safetensors", b"")
    files = list_files(LORA)
    assert names(files) == ["a", "b", "C"]
    assert all(isinstance(f, NetworkFile) and f.kind == LORA for f in files)
    assert files[0].path == root / "style" / "a.safetensors"


def test_embeddings_are_pt_bin_and_safetensors_files(places):
    root = places / "models" / "embeddings"
    for name in ("easynegative.safetensors", "bad-hands-5.pt", "cat-toy.bin", "readme.md", "x.png"):
        touch(root / name)
    assert names(list_files(EMBEDDING)) == ["bad-hands-5", "cat-toy", "easynegative"]


def test_a_shared_name_goes_to_the_first_folder_and_the_others_are_told(places):
    default, kept, run = places / "models" / "loras", places / "kept", places / "run"
    first = touch(default / "detail.safetensors")
    second = touch(kept / "sub" / "detail.safetensors")
    third = touch(run / "detail.safetensors")
    touch(run / "only-here.safetensors")
    save_folder(LORA, kept)
    add_run_folders(LORA, [run])
    assert [(f.name, f.path) for f in list_files(LORA)] == [("detail", first), ("only-here", run / "only-here.safetensors")]
    assert [f.path for f in duplicates(LORA)] == [second, third]
    assert find(LORA, "detail").path == first


def test_one_folder_reached_twice_lists_its_files_once(places):
    default = places / "models" / "loras"
    touch(default / "sub" / "x.safetensors")
    add_run_folders(LORA, [default / "sub", default])
    assert names(list_files(LORA)) == ["x"] and duplicates(LORA) == []


def test_a_link_back_up_the_tree_does_not_loop(places):
    default = places / "models" / "embeddings"
    touch(default / "a" / "e.pt")
    try:
        os.symlink(default, default / "a" / "loop", target_is_directory=True)
    except (OSError, NotImplementedError):
        pytest.skip("this system cannot make symbolic links")
    assert names(list_files(EMBEDDING)) == ["e"]


def test_find_prefers_the_exact_name_then_ignores_case(places):
    root = places / "models" / "embeddings"
    touch(root / "EasyNegative.safetensors")
    touch(root / "Style.pt")
    touch(root / "style.bin")
    assert find(EMBEDDING, "easynegative").path == root / "EasyNegative.safetensors"
    assert find(EMBEDDING, "style").path == root / "style.bin"
    assert find(EMBEDDING, "Style").path == root / "Style.pt"
    assert find(EMBEDDING, "nothing") is None
    assert find(LORA, "EasyNegative") is None  # kinds do not mix


def test_a_missing_folder_lists_nothing(places):
    add_run_folders(LORA, [places / "gone"])
    assert list_files(LORA) == []


# --- hashes ----------------------------------------------------------------------------------

def lora_file(path: Path, tensors: dict, metadata=None) -> tuple[Path, bytes]:
    """A LoRA and the bytes of its tensors as written (sorted by name, back to back), found
    without reading the file's header: what kohya's addnet hash covers."""
    write_safetensors(path, tensors, metadata)
    return path, b"".join(np.ascontiguousarray(tensors[k]).tobytes() for k in sorted(tensors))


def test_a_lora_hash_is_the_sha256_of_its_tensor_bytes_known_answer(places):
    path, _ = lora_file(places / "abc.safetensors", {"t": np.frombuffer(b"abc", np.uint8)})
    assert lora_hash(path) == ABC[:12]


def test_a_lora_hash_ignores_the_header_so_metadata_edits_keep_it(places):
    tensors = {"a.lora_down.weight": np.arange(8, dtype=np.float16).reshape(2, 4),
               "a.lora_up.weight": np.ones((4, 2), np.float16)}
    path, data = lora_file(places / "x.safetensors", tensors, {"ss_output_name": "x"})
    expected = hashlib.sha256(data).hexdigest()[:12]
    assert lora_hash(path) == expected
    assert expected != hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    edited, _ = lora_file(places / "y.safetensors", tensors, {"ss_output_name": "renamed", "note": "hi"})
    assert lora_hash(edited) == expected


def test_a_lora_hash_written_by_the_trainer_is_used_as_a1111_does(places):
    tensors = {"w": np.zeros(4, np.float32)}
    written = "ABCDEF0123456789" * 4
    path, _ = lora_file(places / "k.safetensors", tensors, {"sshs_model_hash": written})
    assert lora_hash(path) == "abcdef012345"
    path, data = lora_file(places / "bad.safetensors", tensors, {"sshs_model_hash": "not a hash"})
    assert lora_hash(path) == hashlib.sha256(data).hexdigest()[:12]


def test_a_lora_that_is_not_safetensors_hashes_the_whole_file(places):
    path = touch(places / "old.pt", b"abc")
    assert lora_hash(path) == ABC[:12]


def test_an_embedding_hash_is_the_whole_files_sha256(places):
    assert embedding_hash(touch(places / "e.pt", b"abc")) == ABC[:12]
    path, _ = lora_file(places / "e.safetensors", {"emb_params": np.ones((1, 768), np.float32)})
    assert embedding_hash(path) == hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def test_hashes_are_remembered_until_the_file_changes(places):
    path = touch(places / "e.pt", b"abc")
    stamp = path.stat()
    assert embedding_hash(path) == ABC[:12]
    cache = json.loads((places / "models" / networks.HASH_CACHE).read_text())
    assert cache["embedding"][str(path)] == {"key": [3, stamp.st_mtime_ns], "sha256": ABC}
    path.write_bytes(b"xyz")  # the same size and, put back, the same time: the cache answers
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert embedding_hash(path) == ABC[:12]
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 10**9))  # touched: hashed anew
    assert embedding_hash(path) == hashlib.sha256(b"xyz").hexdigest()[:12]


def test_the_cache_keeps_lora_and_embedding_hashes_apart(places):
    path, data = lora_file(places / "both.safetensors", {"emb_params": np.ones((1, 768), np.float32)})
    assert lora_hash(path) == hashlib.sha256(data).hexdigest()[:12]
    assert embedding_hash(path) == hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    assert lora_hash(path) != embedding_hash(path)


def test_a_damaged_cache_is_set_aside_and_files_of_the_past_forgotten(places):
    cache = places / "models" / networks.HASH_CACHE
    touch(cache, b"{ not json")
    gone = touch(places / "gone.pt", b"1")
    assert embedding_hash(gone) == hashlib.sha256(b"1").hexdigest()[:12]
    assert list(cache.parent.glob(f"{cache.name}.damaged-*"))
    gone.unlink()
    embedding_hash(touch(places / "e.pt", b"abc"))
    assert list(json.loads(cache.read_text())["embedding"]) == [str(places / "e.pt")]


def test_hashing_reports_progress(places):
    seen = []
    embedding_hash(touch(places / "e.pt", b"a" * 5000), on_progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (5000, 5000)
    seen.clear()
    path, _ = lora_file(places / "l.safetensors", {"t": np.zeros(1000, np.float32)})
    lora_hash(path, on_progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (path.stat().st_size, path.stat().st_size)


def test_files_that_cannot_be_hashed_say_so(places):
    damaged = touch(places / "bad.safetensors", b"\x10" * 12)
    with pytest.raises(NetworkFileError, match="bad.safetensors cannot be hashed as a LoRA"):
        lora_hash(damaged)
    with pytest.raises(NetworkFileError, match="absent.pt cannot be read"):
        embedding_hash(places / "absent.pt")
    with pytest.raises(NetworkFileError, match="absent.safetensors cannot be read"):
        lora_hash(places / "absent.safetensors")


def test_the_infotext_list_drops_colons_and_commas_from_names():
    assert hashes_text([("detail", "0123456789ab"), ("a:b,c", "ba7816bf8f01")]) == \
        "detail: 0123456789ab, abc: ba7816bf8f01"
