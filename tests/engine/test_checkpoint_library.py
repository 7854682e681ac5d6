"""The checkpoint library: recognition from headers, hostile and foreign files, names,
choices, hashes and the folders it scans. Header-only files (checkpoint_files.py), so fast."""
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import main
from engine.models import families, registry
from engine.models.library import Library, LibraryError, describe
from engine.models.safetensors_file import write_safetensors
from tests.engine.checkpoint_files import family_shapes, write_sparse

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def sd1(tmp_path):
    (tmp_path / "files").mkdir()
    return write_sparse(tmp_path / "files" / "dreamshaper_8.safetensors", family_shapes("sd-v1"))


def _written(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_sd1_and_sd2_are_told_apart_by_their_context_width(tmp_path):
    for family in ("sd-v1", "sd-v2"):
        path = write_sparse(tmp_path / f"{family}.safetensors", family_shapes(family))
        assert describe(path) == (family, "epsilon", "")


def test_a_v_prediction_sd2_file_is_recognised_by_its_norm_spread(tmp_path):
    shapes = family_shapes("sd-v2")
    rng = np.random.default_rng(0)
    wide = rng.standard_normal(shapes[families.V_PROBE]) * 0.3
    narrow = rng.standard_normal(shapes[families.V_PROBE]) * 0.02
    assert describe(write_sparse(tmp_path / "v.safetensors", shapes, {families.V_PROBE: wide}))[1] == "v"
    assert describe(write_sparse(tmp_path / "e.safetensors", shapes, {families.V_PROBE: narrow}))[1] == "epsilon"


def test_sd1_files_without_the_text_model_level_are_read(tmp_path):
    shapes = {k.replace("transformer.text_model.", "transformer."): v
              for k, v in family_shapes("sd-v1").items()}
    assert describe(write_sparse(tmp_path / "old.safetensors", shapes))[2] == ""


@pytest.mark.parametrize("what, keys, words", [
    ("sdxl", {"conditioner.embedders.0.transformer.text_model.final_layer_norm.weight": (768,),
              "model.diffusion_model.input_blocks.0.0.weight": (320, 4, 3, 3)}, "SDXL"),
    ("sd3", {"model.diffusion_model.joint_blocks.0.context_block.attn.qkv.weight": (4, 4)}, "Stable Diffusion 3"),
    ("flux", {"double_blocks.0.img_attn.qkv.weight": (4, 4)}, "Flux"),
    ("lora", {"lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": (4, 320)}, "LoRA"),
    ("embedding", {"emb_params": (2, 768)}, "embedding"),
    ("vae", {"encoder.conv_in.weight": (128, 3, 3, 3), "decoder.conv_in.weight": (512, 4, 3, 3)}, "VAE"),
    ("other", {"some.tensor": (3,)}, "no Stable Diffusion UNet"),
])
def test_files_we_cannot_run_are_named_for_what_they_are(tmp_path, what, keys, words):
    family, _, problem = describe(write_sparse(tmp_path / f"{what}.safetensors", keys))
    assert family == "" and words in problem


def test_an_inpainting_unet_is_refused_with_what_to_do_instead(tmp_path):
    shapes = dict(family_shapes("sd-v1"))
    shapes["model.diffusion_model.input_blocks.0.0.weight"] = (320, 9, 3, 3)
    problem = describe(write_sparse(tmp_path / "inpaint.safetensors", shapes))[2]
    assert "inpainting" in problem and "mask" in problem


def test_a_missing_tensor_or_a_wrong_shape_is_named_before_anything_is_built(tmp_path):
    shapes = dict(family_shapes("sd-v1"))
    gone = "model.diffusion_model.output_blocks.4.1.proj_out.weight"
    del shapes[gone]
    assert gone in describe(write_sparse(tmp_path / "missing.safetensors", shapes))[2]
    shapes = dict(family_shapes("sd-v1"))
    bent = "first_stage_model.decoder.mid.attn_1.q.weight"
    shapes[bent] = (512, 256, 1, 1)
    problem = describe(write_sparse(tmp_path / "bent.safetensors", shapes))[2]
    assert bent in problem and "(512, 256, 1, 1)" in problem


def test_a_vae_attention_stored_as_linear_layers_is_accepted(tmp_path):
    shapes = {k: (v[:2] if ".attn_1." in k and k.endswith("weight") and len(v) == 4 else v)
              for k, v in family_shapes("sd-v1").items()}
    assert describe(write_sparse(tmp_path / "linear-attn.safetensors", shapes))[2] == ""


def test_hostile_headers_give_one_line(tmp_path):
    cut = write_sparse(tmp_path / "cut.safetensors", family_shapes("sd-v1"))
    with open(cut, "r+b") as handle:
        handle.truncate(os.path.getsize(cut) // 2)
    huge = tmp_path / "huge.safetensors"
    huge.write_bytes((2 ** 63).to_bytes(8, "little") + b"{}")
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!")
    for path, words in ((cut, "cut short"), (huge, "header"), (garbage, "JSON")):
        problem = describe(path)[2]
        assert words in problem and "\n" not in problem, (path.name, problem)


def test_a_pickled_checkpoint_is_refused_without_being_opened(tmp_path):
    """A .ckpt is a pickle; this one's payload would create a file if anything unpickled it."""
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    hostile = tmp_path / "model.ckpt"
    hostile.write_bytes(pickle.dumps({"state_dict": Payload()}))
    family, _, problem = describe(hostile)
    assert family == "" and ".safetensors" in problem and "run code" in problem
    with pytest.raises(LibraryError, match="run code"):
        Library(tmp_path / "models").add(hostile)
    assert not marker.exists()


def test_add_uses_the_file_where_it_lies_and_remembers_its_hash(library, sd1):
    before = sorted(p.name for p in sd1.parent.iterdir())
    entry = library.add(sd1)
    assert entry.name == "dreamshaper_8" and entry.path == sd1 and entry.added
    assert sorted(p.name for p in sd1.parent.iterdir()) == before  # nothing copied beside it
    assert not list((library.models_dir).rglob("*.safetensors"))  # nor into our folder
    import hashlib
    assert entry.sha256 == hashlib.sha256(sd1.read_bytes()).hexdigest()
    assert entry.short_hash == entry.sha256[:10]
    fresh = Library(library.models_dir)  # the next process reads the hash, does not recompute
    assert fresh.find("dreamshaper_8").sha256 == entry.sha256
    assert registry.get_model("dreamshaper_8").checkpoint.path == sd1
    assert "dreamshaper_8" in registry.all_model_ids()


def test_rename_keeps_the_hash_and_the_hash_finds_it(library, sd1):
    entry = library.add(sd1)
    renamed = library.rename("dreamshaper_8", "Dreamy")
    assert renamed.sha256 == entry.sha256
    assert library.find(entry.short_hash).name == "Dreamy"
    with pytest.raises(LibraryError, match="built-in"):
        library.rename("Dreamy", "sd-v1.4")
    with pytest.raises(KeyError, match="Unknown model"):
        registry.get_model("dreamshaper_8")


def test_prediction_and_vae_choices_are_kept_and_checked(library, sd1, tmp_path):
    library.add(sd1)
    assert library.set_prediction("dreamshaper_8", "v").prediction == "v"
    assert Library(library.models_dir).find("dreamshaper_8").prediction_set
    assert library.set_prediction("dreamshaper_8", None).prediction == "epsilon"
    with pytest.raises(LibraryError, match="prediction type"):
        library.set_prediction("dreamshaper_8", "x0")
    vae = write_sparse(tmp_path / "vae.safetensors",
                       {k[len(families.VAE):]: v for k, v in family_shapes("sd-v1", ("vae",)).items()})
    assert library.set_vae("dreamshaper_8", vae).vae == vae
    with pytest.raises(LibraryError, match="holds no VAE|cannot be used as a VAE"):
        library.set_vae("dreamshaper_8", sd1.with_name("missing.safetensors"))


def test_folders_are_scanned_as_they_are_and_equal_names_told_apart(library, tmp_path):
    a1111 = tmp_path / "a1111" / "models" / "Stable-diffusion"
    (a1111 / "anime").mkdir(parents=True)
    (a1111 / "photo").mkdir(parents=True)
    write_sparse(a1111 / "anime" / "best.safetensors", family_shapes("sd-v1"))
    write_sparse(a1111 / "photo" / "best.safetensors", family_shapes("sd-v2"))
    write_sparse(a1111 / "lora-by-mistake.safetensors", {"emb_params": (1, 768)})
    library.add_folders([a1111])
    names = {e.name: e for e in library.entries()}
    assert {"best", "photo/best", "lora-by-mistake"} <= set(names)
    assert not names["lora-by-mistake"].usable
    assert [e.name for e in library.usable()] == ["best", "photo/best"]
    with pytest.raises(LibraryError, match="folder"):
        library.remove("best")  # found in a folder: the file decides, not the catalogue
    with pytest.raises(KeyError, match="embedding"):
        registry.get_model("lora-by-mistake")


def test_a_damaged_catalogue_is_read_as_empty(library, sd1):
    library.add(sd1)
    library.catalogue_path.write_text("[" * 100_000)
    assert Library(library.models_dir).entries() == []


def run_cli(tmp_path, *args):
    env = dict(os.environ, PYTHONPATH=str(ROOT), SD_DESK_MODELS_DIR=str(tmp_path / "models"),
               SD_DESK_DATA_DIR=str(tmp_path / "data"))
    return subprocess.run([sys.executable, "main.py", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_cli_add_list_rename_remove(tmp_path, sd1):
    added = run_cli(tmp_path, "models", "add", str(sd1), "--name", "mine")
    assert added.returncode == 0, added.stderr
    assert "added mine: SD 1.x, epsilon (guessed from the file)" in added.stdout
    listed = run_cli(tmp_path, "models")
    assert "mine" in listed.stdout and str(sd1) in listed.stdout
    assert run_cli(tmp_path, "models", "rename", "mine", "ours").returncode == 0
    assert run_cli(tmp_path, "models", "set", "ours", "--prediction", "v").returncode == 0
    assert "v-prediction (chosen)" in run_cli(tmp_path, "models").stdout
    removed = run_cli(tmp_path, "models", "remove", "ours")
    assert removed.returncode == 0 and sd1.exists()


@pytest.mark.parametrize("make, words", [
    (lambda p: write_sparse(p / "xl.safetensors",
                            {"conditioner.embedders.1.model.ln_final.weight": (1280,)}), "SDXL"),
    (lambda p: _written(p / "old.ckpt", b"\x80\x04K\x01."), "pickled"),
    (lambda p: _written(p / "empty.safetensors", b""), "too short"),
    (lambda p: p / "absent.safetensors", "No file"),
    (lambda p: _written(p / "model_index.json", b"{}").parent, "diffusers-format folder"),
])
def test_cli_bad_files_give_one_line_and_exit_2(tmp_path, make, words):
    path = make(tmp_path)
    done = run_cli(tmp_path, "models", "add", str(path))
    assert done.returncode == 2 and words in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_generate_names_an_unusable_checkpoint_before_loading_anything(tmp_path):
    folder = tmp_path / "ckpts"
    folder.mkdir()
    write_sparse(folder / "xl.safetensors", {"conditioner.embedders.1.model.ln_final.weight": (1280,)})
    done = run_cli(tmp_path, "generate", "--prompt", "a cat", "--model", "xl", "--checkpoints-dir",
                   str(folder), "--out", str(tmp_path / "out"))
    assert done.returncode == 2 and "SDXL" in done.stderr and "Traceback" not in done.stderr


def test_a_safetensors_writer_round_trip_feeds_describe(tmp_path):
    """Files written by our writer (as tests' random checkpoints are) read back the same."""
    path = tmp_path / "tiny.safetensors"
    write_safetensors(path, {"emb_params": np.ones((2, 768), np.float32)})
    assert "embedding" in describe(path)[2]


def test_main_models_list_runs_in_process(tmp_path, capsys, library, sd1):
    library.add(sd1)
    assert main.main(["models", "list"]) == 0
    assert "dreamshaper_8" in capsys.readouterr().out


def test_sd15_is_downloadable_and_its_file_is_judged_by_its_header(tmp_path, monkeypatch):
    from engine.models.status import CORRUPT, UNVERIFIED, model_status

    spec = registry.get_model("sd-v1.5")
    assert spec.is_single_file and spec.file_for("checkpoint").sha256.startswith("6ce0161689")
    monkeypatch.setenv("SD_DESK_MODELS_DIR", str(tmp_path))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    name = spec.file_for("checkpoint").name
    write_sparse(tmp_path / name, {"conditioner.embedders.1.model.ln_final.weight": (1280,)})
    status = model_status("sd-v1.5")
    damaged = status.files_in(CORRUPT)
    assert status.state == CORRUPT and "SDXL" in damaged[0].problem
    write_sparse(tmp_path / name, family_shapes("sd-v1"))
    assert model_status("sd-v1.5").files_in(UNVERIFIED)[0].name == name  # sound; the hash decides


def test_a_checkpoint_is_the_default_before_the_demo(library, sd1):
    from engine.default_model import default_model_id
    assert default_model_id(has_files=lambda model_id: False, preferred=None) == "demo"
    library.add(sd1)
    assert default_model_id(preferred=None, weights_dir=sd1.parent) == "dreamshaper_8"
