"""Few-step checkpoints and LoRAs recognised from what their files say (small random
safetensors files with the metadata real ones carry), and the settings offered."""
import numpy as np
import pytest

from engine.models import few_step
from engine.models.safetensors_file import write_safetensors


def _file(path, metadata=None):
    rng = np.random.default_rng(0)
    write_safetensors(path, {"lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight":
                             rng.standard_normal((4, 8)).astype(np.float16)}, metadata)
    return path


@pytest.mark.parametrize("metadata,kind,steps,guidance,sampler", [
    ({"modelspec.title": "SD Turbo", "modelspec.architecture": "stable-diffusion-v2-1"},
     "SD-Turbo", 1, 1.0, "euler-a-sgm"),
    ({"modelspec.architecture": "stable-diffusion-xl-v1-base", "modelspec.title": "sdxl_turbo"},
     "SD-Turbo", 1, 1.0, "euler-a-sgm"),
    # kohya's training record of a LoRA distilled or trained from an LCM model
    ({"ss_output_name": "dreamshaper_lcm_v7", "ss_network_module": "networks.lora"},
     "LCM", 4, 1.5, "lcm"),
    ({"ss_sd_model_name": "LCM_Dreamshaper_v7.safetensors"}, "LCM", 4, 1.5, "lcm"),
    ({"modelspec.description": "Latent Consistency Model distilled from SD 1.5"},
     "LCM", 4, 1.5, "lcm"),
    ({"modelspec.title": "Hyper-SD15-2steps-lora"}, "Hyper-SD", 2, 1.0, "euler-sgm"),
    ({"name": "Hyper-SD 8 steps"}, "Hyper-SD", 8, 1.0, "euler-sgm"),
    ({"ss_output_name": "sdxl_lightning_4step_lora"}, "SDXL-Lightning", 4, 1.0, "euler-sgm"),
])
def test_recognised_from_metadata(tmp_path, metadata, kind, steps, guidance, sampler):
    found = few_step.of_file(_file(tmp_path / "anything.safetensors", metadata))
    assert (found.kind, found.steps, found.guidance, found.sampler) == (kind, steps, guidance, sampler)
    assert found.source.startswith("its metadata (")


@pytest.mark.parametrize("metadata", [
    {},
    {"format": "pt"},
    {"modelspec.title": "Dreamshaper 8", "modelspec.architecture": "stable-diffusion-v1"},
    # Words in kohya's caption statistics are the training images', not the model's.
    {"ss_output_name": "cars_style", "ss_tag_frequency": '{"img": {"turbo engine": 3, "lcm": 1}}'},
    {"ss_output_name": "turbocharged_cars"},  # "turbo" inside a word
])
def test_ordinary_files_are_not_few_step(tmp_path, metadata):
    assert few_step.of_file(_file(tmp_path / "style.safetensors", metadata)) is None


def test_the_name_counts_only_where_the_metadata_names_nothing(tmp_path):
    # The official LCM-LoRA carries {"format": "pt"} alone and is shared renamed.
    found = few_step.of_file(_file(tmp_path / "lcm-lora-sdv1-5.safetensors", {"format": "pt"}))
    assert (found.kind, found.source) == ("LCM", "its file name")
    named = _file(tmp_path / "lcm-merge.safetensors", {"modelspec.title": "Dreamshaper 8"})
    assert few_step.of_file(named) is None


def test_unreadable_and_pickled_files_offer_nothing(tmp_path):
    bad = tmp_path / "sd_turbo.safetensors"
    bad.write_bytes(b"\x00" * 3)
    assert few_step.of_file(bad) is None
    assert few_step.of_file(tmp_path / "gone_turbo.safetensors") is None
    ckpt = tmp_path / "lcm.ckpt"
    ckpt.write_bytes(b"PK")
    assert few_step.of_file(ckpt) is None


def test_prompt_loras_are_read_when_the_checkpoint_is_ordinary(tmp_path):
    ordinary = _file(tmp_path / "base.safetensors", {"modelspec.title": "Dreamshaper 8"})
    lora = _file(tmp_path / "fast.safetensors", {"ss_output_name": "lcm_lora_sd15"})
    files = {"fast": lora, "style": ordinary}
    found = few_step.for_prompt(ordinary, "a cat <lora:style:0.7> <lora:fast:1>", files.get)
    assert (found.kind, found.steps, found.sampler) == ("LCM-LoRA", 4, "lcm")
    assert few_step.for_prompt(ordinary, "a cat <lora:style:0.7>", files.get) is None
    assert few_step.for_prompt(None, "a cat <lora:missing:1>", files.get) is None
    assert few_step.for_prompt(None, "a cat <lora:broken", files.get) is None
    turbo = _file(tmp_path / "t.safetensors", {"modelspec.title": "SD Turbo"})
    assert few_step.for_prompt(turbo, "a cat <lora:fast:1>", files.get).kind == "SD-Turbo"


def test_for_model_finds_loras_in_the_lora_folder(tmp_path):
    from engine.models import extra_networks
    folder = extra_networks.default_dir("lora", create=True)
    _file(folder / "hyper_fast_preset_test.safetensors", {"modelspec.title": "Hyper-SD15-4steps"})
    found = few_step.for_model("demo", "a red circle <lora:hyper_fast_preset_test:1>")
    assert (found.kind, found.steps) == ("Hyper-SD", 4)
    assert few_step.for_model("demo", "a red circle") is None
    assert found.settings() == "4 steps, guidance 1, Euler SGM Uniform"
