"""LoRAs and embeddings through the engine: named in the prompt, found in their folders,
applied without a rebuild, switched and taken off between jobs, recorded for the PNG, and
refused with one message (random SD 1.4 weights; the merge itself is tested in
test_lora_weights.py, its correctness against diffusers in test_lora_reference.py)."""
from __future__ import annotations

import numpy as np
import pytest

from engine.errors import InvalidRequest
from engine.models import extra_networks
from engine.models.safetensors_file import write_safetensors
from engine.request import GenerationRequest
from tests.engine.embedding_files import vectors, write_a1111_pt
from tests.engine.lora_files import write_lora
from tests.engine.sd_fixtures import SIZE


@pytest.fixture()
def folders(tmp_path, monkeypatch):
    loras, embeddings = tmp_path / "loras", tmp_path / "embeddings"
    loras.mkdir()
    embeddings.mkdir()
    monkeypatch.setattr(extra_networks, "_run_folders", {"lora": [loras], "embedding": [embeddings]})
    # Every fourth UNet module: every kind is reached, and the merge stays quick.
    write_lora(loras / "style.safetensors", form="kohya", seed=1, strength=1.0, unet_every=4)
    write_a1111_pt(embeddings / "768wide.pt", vectors(2, 768, seed=2))
    write_a1111_pt(embeddings / "1024wide.pt", vectors(2, 1024, seed=3))
    return loras, embeddings


def request(prompt: str, **changes) -> GenerationRequest:
    return GenerationRequest(prompt, seed=3, steps=1, width=SIZE, height=SIZE, model="sd-v1.4",
                             preview=False, sampler="ddim", **changes)


def weights(backend) -> list[np.ndarray]:
    return [np.array(v) for v in (backend.components.diffusion_model.weights
                                  + backend.components.text_encoder.weights)]


def test_a_lora_is_applied_switched_and_taken_off_without_a_rebuild(sd_engine, folders):
    loras, _ = folders
    backend = sd_engine.loaded_backend()
    before = weights(backend)
    plain = sd_engine.generate(request("a cat"))
    styled = sd_engine.generate(request("a cat <lora:style:1>"))
    assert sd_engine.loaded_backend() is backend  # the same networks: nothing rebuilt
    assert styled.network_hashes == {"Lora hashes": {"style": extra_networks.lora_hash(
        loras / "style.safetensors")}}
    assert "networks" in styled.timings
    assert np.abs(styled.images[0].pixels.astype(int) - plain.images[0].pixels).max() > 0
    half = sd_engine.generate(request("a cat <lora:style:0.5>"))
    assert np.abs(half.images[0].pixels.astype(int) - styled.images[0].pixels).max() > 0
    again = sd_engine.generate(request("a cat"))
    # Taken off exactly: the networks' values and the image are the plain ones again.
    assert all(np.array_equal(a, b) for a, b in zip(before, weights(backend)))
    np.testing.assert_array_equal(again.images[0].pixels, plain.images[0].pixels)
    assert again.network_hashes == {}


def test_files_the_prompt_names_are_checked_before_anything_runs(sd_engine, folders):
    loras, _ = folders
    # An SDXL LoRA: its text-encoder keys are te1/te2.
    write_safetensors(loras / "xl.safetensors", {
        "lora_te1_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight": np.zeros((4, 768), np.float16),
        "lora_te1_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight": np.zeros((768, 4), np.float16)})
    (loras / "broken.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    backend = sd_engine.loaded_backend()
    before = weights(backend)
    cases = {
        "a cat <lora:nowhere:1>": "No LoRA file named 'nowhere'",
        "a cat <lora:xl:1>": "SDXL",
        "a cat <lora:broken:1>": "broken.safetensors",
        "a cat <lora:style:nan>": "nan",
        "a cat <lora:style:1e309>": "1e309",
        "a cat 1024wide": "1024wide",
    }
    for prompt, named in cases.items():
        with pytest.raises(InvalidRequest) as caught:
            sd_engine.generate(request(prompt))
        assert named in str(caught.value), (prompt, str(caught.value))
        assert "\n" not in str(caught.value).strip() and "Traceback" not in str(caught.value)
    assert all(np.array_equal(a, b) for a, b in zip(before, weights(backend)))


def test_an_embedding_of_the_models_width_is_used_and_recorded(sd_engine, folders):
    _, embeddings = folders
    plain = sd_engine.generate(request("a cat"))
    result = sd_engine.generate(request("a 768wide cat", clip_skip=2))
    assert result.network_hashes == {"TI hashes": {"768wide": extra_networks.embedding_hash(
        embeddings / "768wide.pt")}}
    assert np.abs(result.images[0].pixels.astype(int) - plain.images[0].pixels).max() > 0


def test_a_lora_that_does_not_say_its_family_is_applied_where_it_fits(sd_engine, folders):
    """Self-attention alone has the same shapes in SD 1.x and 2.x: such a file names no
    family, and it was refused as "for None models" before the merge could judge it."""
    loras, _ = folders
    attn1 = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q"
    rng = np.random.default_rng(5)
    write_safetensors(loras / "selfattn.safetensors", {
        attn1 + ".lora_down.weight": rng.standard_normal((4, 320)).astype(np.float16),
        attn1 + ".lora_up.weight": rng.standard_normal((320, 4)).astype(np.float16)})
    result = sd_engine.generate(request("a cat <lora:selfattn:1>"))
    assert list(result.network_hashes["Lora hashes"]) == ["selfattn"]
