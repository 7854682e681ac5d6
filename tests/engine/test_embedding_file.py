"""Embedding files: every form in circulation read to vectors by encoder, and every file
that is not a usable embedding refused in one sentence that names it."""
import os
import subprocess
import textwrap

import ml_dtypes
import numpy as np
import pytest

from engine.models.embedding_file import EmbeddingProblem, read_embedding
from engine.models.safetensors_file import write_safetensors
from tests.engine.checkpoint_files import family_shapes, write_sparse
from tests.engine.embedding_files import (Call, Tensor, a1111_embedding, vectors, write_a1111_pt,
                                          write_diffusers_bin, write_emb_params, write_legacy_pt,
                                          write_pt, write_sdxl)


def problem(path) -> str:
    with pytest.raises(EmbeddingProblem) as caught:
        read_embedding(path)
    message = str(caught.value)
    assert path.name in message and "\n" not in message and message.endswith(".")
    return message


# --- read ----------------------------------------------------------------------------------

@pytest.mark.parametrize("width, encoder, family", [(768, "clip_l", "sd-v1"), (1024, "clip_h", "sd-v2")])
def test_an_a1111_pt_gives_its_vectors_under_its_file_name(tmp_path, width, encoder, family):
    values = vectors(3, width)
    embedding = read_embedding(write_a1111_pt(tmp_path / "Bad-Hands 5.pt", values))
    assert embedding.name == "Bad-Hands 5" and embedding.path == tmp_path / "Bad-Hands 5.pt"
    assert list(embedding.vectors) == [encoder]
    assert embedding.width_family() == family and embedding.count == 3
    np.testing.assert_array_equal(embedding.vectors[encoder], values)
    assert embedding.vectors[encoder].dtype == np.float32


def test_the_word_is_the_file_name_not_the_name_saved_inside(tmp_path):
    path = write_pt(tmp_path / "renamed.pt", a1111_embedding(vectors(1, 768), name="original"))
    assert read_embedding(path).name == "renamed"


def test_the_vectors_cannot_be_changed_by_whoever_holds_them(tmp_path):
    embedding = read_embedding(write_a1111_pt(tmp_path / "e.pt", vectors(1, 768)))
    with pytest.raises(ValueError):
        embedding.vectors["clip_l"][0, 0] = 1.0


def test_the_original_textual_inversion_parameter_dict_form_reads(tmp_path):
    values = vectors(2, 768, seed=4)
    embedding = read_embedding(write_a1111_pt(tmp_path / "ti.pt", values, parameter_dict=True))
    np.testing.assert_array_equal(embedding.vectors["clip_l"], values)


@pytest.mark.parametrize("dtype", [np.float16, ml_dtypes.bfloat16, np.float64], ids=str)
def test_half_and_double_precision_vectors_become_float32_exactly(tmp_path, dtype):
    values = vectors(2, 768, dtype=dtype)
    for path in (write_a1111_pt(tmp_path / "e.pt", values), write_emb_params(tmp_path / "e.safetensors", values)):
        got = read_embedding(path).vectors["clip_l"]
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, values.astype(np.float32))


def test_a_diffusers_bin_of_one_vector_is_one_token(tmp_path):
    vector = vectors(1, 768)[0]
    embedding = read_embedding(write_diffusers_bin(tmp_path / "cat-toy.bin", "<cat-toy>", vector))
    assert embedding.name == "cat-toy" and embedding.count == 1
    np.testing.assert_array_equal(embedding.vectors["clip_l"], vector[None])


def test_a_legacy_format_pt_reads(tmp_path):
    values = vectors(4, 1024)
    embedding = read_embedding(write_legacy_pt(tmp_path / "old.pt", a1111_embedding(values)))
    np.testing.assert_array_equal(embedding.vectors["clip_h"], values)


@pytest.mark.parametrize("key, shape", [("emb_params", (5, 768)), ("anything", (2, 1024)), ("one", (768,))])
def test_safetensors_embeddings_read_from_emb_params_or_their_one_tensor(tmp_path, key, shape):
    values = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    embedding = read_embedding(write_emb_params(tmp_path / "e.safetensors", values, name=key))
    (encoder,) = embedding.vectors
    np.testing.assert_array_equal(embedding.vectors[encoder], values.reshape(-1, shape[-1]))
    assert embedding.count == (shape[0] if len(shape) == 2 else 1)


def test_emb_params_is_chosen_among_other_tensors(tmp_path):
    path = tmp_path / "e.safetensors"
    write_safetensors(path, {"emb_params": vectors(2, 768), "step": np.array([100], np.int64)})
    assert read_embedding(path).count == 2


def test_an_sdxl_embedding_has_both_encoders(tmp_path):
    clip_l, clip_g = vectors(4, 768, seed=1), vectors(4, 1280, seed=2)
    embedding = read_embedding(write_sdxl(tmp_path / "xl.safetensors", clip_l, clip_g))
    assert embedding.width_family() == "sdxl" and embedding.count == 4
    np.testing.assert_array_equal(embedding.vectors["clip_l"], clip_l)
    np.testing.assert_array_equal(embedding.vectors["clip_g"], clip_g)


def test_an_sdxl_embedding_saved_as_pt_reads(tmp_path):
    clip_l, clip_g = vectors(2, 768), vectors(2, 1280)
    embedding = read_embedding(write_pt(tmp_path / "xl.pt", {"clip_l": Tensor(clip_l), "clip_g": Tensor(clip_g)}))
    assert embedding.width_family() == "sdxl"


# --- refused --------------------------------------------------------------------------------

@pytest.mark.parametrize("width", [1280, 512, 4096])
def test_other_widths_are_refused_with_the_width_named(tmp_path, width):
    for path in (write_a1111_pt(tmp_path / "w.pt", vectors(1, width)),
                 write_emb_params(tmp_path / "w.safetensors", vectors(1, width))):
        message = problem(path)
        assert f"{width} wide" in message and "768" in message and "1024" in message


def test_sdxl_pairs_of_the_wrong_widths_or_counts_are_refused(tmp_path):
    assert "clip_g vectors are 1024 wide" in problem(
        write_sdxl(tmp_path / "a.safetensors", vectors(2, 768), vectors(2, 1024)))
    assert "clip_l holds 2 vectors but its clip_g 3" in problem(
        write_sdxl(tmp_path / "b.safetensors", vectors(2, 768), vectors(3, 1280)))


def test_a_file_of_several_embeddings_is_refused(tmp_path):
    data = a1111_embedding(vectors(1, 768))
    data["string_to_param"] = {"*": Tensor(vectors(1, 768)), "#": Tensor(vectors(1, 768))}
    assert "2 embeddings in one file" in problem(write_pt(tmp_path / "two.pt", data))


def test_a_lora_a_checkpoint_or_an_unknown_file_is_told_apart(tmp_path):
    lora = tmp_path / "lora.safetensors"
    write_safetensors(lora, {"lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": np.zeros((4, 320), np.float16),
                             "lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight": np.zeros((320, 4), np.float16)})
    assert "it is a LoRA, not an embedding" in problem(lora)
    checkpoint = write_sparse(tmp_path / "model.safetensors", family_shapes("sd-v1", ("text_encoder",)))
    assert "checkpoint" in problem(checkpoint)
    other = tmp_path / "other.safetensors"
    write_safetensors(other, {"a": np.zeros(768, np.float32), "b": np.zeros(768, np.float32)})
    assert "holds 2 tensors ('a', 'b')" in problem(other)
    ckpt = write_pt(tmp_path / "model.pt", {"state_dict": {"model.diffusion_model.x": Tensor(np.zeros(3, np.float32))}})
    assert "it is a checkpoint" in problem(ckpt)
    pt_lora = write_pt(tmp_path / "lora.pt", {"lora_te_text_model_encoder_layers_0_mlp_fc1.alpha": Tensor(np.ones((), np.float32)),
                                              "lora_te_text_model_encoder_layers_0_mlp_fc1.lora_up.weight": Tensor(np.zeros((4, 4), np.float32))})
    assert "LoRA" in problem(pt_lora)


@pytest.mark.parametrize("values, words", [
    (np.zeros((2, 768), np.int64), "holds int64 values, not vectors"),
    (np.zeros((2, 2, 768), np.float32), "has shape [2, 2, 768]"),
    (np.zeros((0, 768), np.float32), "holds no vectors"),
    (np.zeros((76, 768), np.float32), "76 vectors, more than the 75"),
    (np.full((1, 768), np.nan, np.float32), "NaN or infinite"),
    (np.full((1, 1024), np.inf, np.float16), "NaN or infinite"),
])
def test_tensors_that_are_not_vectors_are_refused(tmp_path, values, words):
    assert words in problem(write_a1111_pt(tmp_path / "bad.pt", values))
    assert words in problem(write_emb_params(tmp_path / "bad.safetensors", values))


def test_files_that_hold_no_tensor_or_no_dict_are_refused(tmp_path):
    assert "holds no tensor" in problem(write_pt(tmp_path / "none.pt", {"name": "x", "step": 3}))
    assert "holds a list" in problem(write_pt(tmp_path / "list.pt", [Tensor(vectors(1, 768))]))
    assert "holds no tensor" in problem(write_pt(tmp_path / "empty.pt", {"string_to_param": {}}))


def test_a_pt_that_asks_for_code_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "ran"
    data = a1111_embedding(vectors(1, 768))
    data["step"] = Call("os", "system", (f"touch {marker}",))
    message = problem(write_pt(tmp_path / "armed.pt", data))
    assert "os.system" in message and not marker.exists()


def test_damaged_files_are_refused_in_a_sentence(tmp_path):
    cut = tmp_path / "cut.pt"
    cut.write_bytes(write_a1111_pt(tmp_path / "whole.pt", vectors(2, 768)).read_bytes()[:300])
    assert "damaged zip" in problem(cut)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\xff" * 64)
    assert "header claims" in problem(garbage)
    text = tmp_path / "notes.bin"
    text.write_text("just some text")
    assert "not a PyTorch file" in problem(text)


def test_other_suffixes_and_missing_files_are_refused(tmp_path):
    assert ".pt, .bin or .safetensors" in problem(tmp_path / "model.ckpt")
    assert "cannot be read" in problem(tmp_path / "absent.pt")


# --- against A1111's own save, through torch --------------------------------------------------

REFERENCE = os.environ.get("SD_DESK_REFERENCE_PYTHON")


@pytest.mark.skipif(not REFERENCE, reason="set SD_DESK_REFERENCE_PYTHON to a Python with torch")
def test_an_embedding_torch_saved_as_a1111_does_reads_the_same(tmp_path):
    script = textwrap.dedent("""
        import sys, numpy as np, torch
        vec = torch.randn(4, 768, generator=torch.Generator().manual_seed(3))
        torch.save({"string_to_token": {"*": 265}, "string_to_param": {"*": vec}, "name": "x",
                    "step": 5, "sd_checkpoint": None, "sd_checkpoint_name": None}, sys.argv[1] + "/real.pt")
        np.save(sys.argv[1] + "/real.npy", vec.numpy())
    """)
    subprocess.run([REFERENCE, "-c", script, str(tmp_path)], check=True, timeout=300)
    embedding = read_embedding(tmp_path / "real.pt")
    assert (embedding.name, embedding.count, embedding.width_family()) == ("real", 4, "sd-v1")
    np.testing.assert_array_equal(embedding.vectors["clip_l"], np.load(tmp_path / "real.npy"))
