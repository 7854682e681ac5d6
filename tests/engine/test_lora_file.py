"""Reading LoRA files: every key form resolved to the original module it changes, the
family told from the file, the delta's arithmetic, and one clear refusal per bad file.

No network is built here: names are checked against hand-written pairs (taken from
diffusers' `convert_ldm_unet_checkpoint` naming and OpenCLIP's), and whole files against
the layout table the importer's plans were made from."""
import json

import numpy as np
import pytest

from engine.models import lora_names
from engine.models.ldm_layout import LAYOUT
from engine.models.lora_file import LoraProblem, read_lora
from engine.models.safetensors_file import write_safetensors
from tests.engine.lora_files import write_lora

U = "model.diffusion_model."


def assert_close(ours: np.ndarray, theirs: np.ndarray) -> None:
    """Equal up to float32 rounding (numpy's assert_allclose is slow on arrays this size)."""
    assert ours.shape == theirs.shape
    ours = np.ascontiguousarray(ours, dtype=np.float64)  # one memory order: a fast subtraction
    assert np.abs(ours - theirs).max() <= 1e-5 * np.abs(theirs).max() + 1e-7
T1 = "cond_stage_model.transformer.text_model."
T2 = "cond_stage_model.model.transformer."

# diffusers path -> original path: one of each kind of block and layer.
UNET_PAIRS = {
    "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q": "input_blocks.1.1.transformer_blocks.0.attn1.to_q",
    "down_blocks.0.attentions.1.transformer_blocks.0.attn2.to_out.0": "input_blocks.2.1.transformer_blocks.0.attn2.to_out.0",
    "down_blocks.1.attentions.0.proj_in": "input_blocks.4.1.proj_in",
    "down_blocks.2.attentions.1.transformer_blocks.0.ff.net.0.proj": "input_blocks.8.1.transformer_blocks.0.ff.net.0.proj",
    "down_blocks.0.resnets.0.conv1": "input_blocks.1.0.in_layers.2",
    "down_blocks.1.resnets.0.conv_shortcut": "input_blocks.4.0.skip_connection",
    "down_blocks.3.resnets.1.conv2": "input_blocks.11.0.out_layers.3",
    "down_blocks.2.resnets.1.time_emb_proj": "input_blocks.8.0.emb_layers.1",
    "down_blocks.0.downsamplers.0.conv": "input_blocks.3.0.op",
    "down_blocks.2.downsamplers.0.conv": "input_blocks.9.0.op",
    "mid_block.resnets.0.conv1": "middle_block.0.in_layers.2",
    "mid_block.attentions.0.transformer_blocks.0.ff.net.2": "middle_block.1.transformer_blocks.0.ff.net.2",
    "mid_block.resnets.1.time_emb_proj": "middle_block.2.emb_layers.1",
    "up_blocks.0.resnets.2.conv_shortcut": "output_blocks.2.0.skip_connection",
    "up_blocks.0.upsamplers.0.conv": "output_blocks.2.1.conv",
    "up_blocks.1.attentions.0.proj_out": "output_blocks.3.1.proj_out",
    "up_blocks.1.upsamplers.0.conv": "output_blocks.5.2.conv",
    "up_blocks.2.upsamplers.0.conv": "output_blocks.8.2.conv",
    "up_blocks.3.attentions.2.transformer_blocks.0.attn2.to_k": "output_blocks.11.1.transformer_blocks.0.attn2.to_k",
    "up_blocks.3.resnets.2.conv2": "output_blocks.11.0.out_layers.3",
    "conv_in": "input_blocks.0.0",
    "conv_out": "out.2",
    "time_embedding.linear_1": "time_embed.0",
    "time_embedding.linear_2": "time_embed.2",
}


@pytest.mark.parametrize("diffusers, original", UNET_PAIRS.items())
def test_unet_names_in_every_spelling_mean_the_original_module(diffusers, original):
    want = lora_names.Target("unet", U + original)
    assert lora_names.diffusers_unet_name(original) == diffusers
    for name in (diffusers, diffusers.replace(".", "_"), original, original.replace(".", "_")):
        assert lora_names.resolve("unet", name, None) == want, name


def test_every_unet_module_with_a_matrix_has_a_diffusers_name():
    for family in ("sd-v1", "sd-v2"):
        for key, shape in LAYOUT[family]["diffusion_model"].items():
            if key.endswith(".weight") and len(shape) >= 2:
                assert lora_names.diffusers_unet_name(key[len(U):-len(".weight")]), key


def test_text_names_map_to_each_familys_checkpoint_names():
    sd1 = lora_names.resolve("text", "text_model_encoder_layers_3_self_attn_out_proj", "sd-v1")
    assert sd1 == lora_names.Target("text", T1 + "encoder.layers.3.self_attn.out_proj")
    assert lora_names.resolve("text", "encoder.layers.3.self_attn.out_proj", "sd-v1") == sd1  # transformers 5
    expected = {"self_attn_q_proj": ("attn.in_proj", 0), "self_attn_k_proj": ("attn.in_proj", 1),
                "self_attn_v_proj": ("attn.in_proj", 2), "self_attn_out_proj": ("attn.out_proj", None),
                "mlp_fc1": ("mlp.c_fc", None), "mlp_fc2": ("mlp.c_proj", None)}
    for name, (module, part) in expected.items():
        target = lora_names.resolve("text", f"text_model_encoder_layers_22_{name}", "sd-v2")
        assert target == lora_names.Target("text", f"{T2}resblocks.22.{module}", part)
    q = lora_names.resolve("text", "text_model.encoder.layers.0.self_attn.q_proj", "sd-v2")
    assert q.weight_key == T2 + "resblocks.0.attn.in_proj_weight"
    assert lora_names.resolve("text", "text_model_encoder_layers_23_mlp_fc1", "sd-v2") is None  # SD 2 uses 23
    assert lora_names.resolve("text", "text_model_encoder_layers_12_mlp_fc1", "sd-v1") is None


@pytest.mark.parametrize("family", ["sd-v1", "sd-v2"])
@pytest.mark.parametrize("form", ["kohya", "kohya-original", "peft", "diffusers-old"])
def test_each_form_reads_every_module_with_its_delta(tmp_path, family, form):
    path = tmp_path / "lora.safetensors"
    written = write_lora(path, family, form, unet_kinds=("attention", "ff", "proj", "conv"),
                         rank=4, alpha=None if form == "peft" else 3.0, unet_every=11, text_every=7)
    lora = read_lora(path)
    assert lora.family == family
    by_key = {(m.weight_key, m.part): m for m in lora.modules}
    assert len(by_key) == len(lora.modules) == len(written)
    for index, row in enumerate(written):
        module = by_key[(row.weight_key, row.part)]
        assert module.network == row.network
        assert module.shape == (row.up.shape[0],) + row.down.shape[1:]
        if index % 6 == 0:  # the arithmetic on a sample of each kind (a full delta is large)
            delta = module.delta()
            assert delta.dtype == np.float32
            assert_close(delta, row.delta())


def test_sd2_text_modules_say_which_third_of_the_stacked_tensor(tmp_path):
    path = tmp_path / "sd2.safetensors"
    write_lora(path, "sd-v2", "kohya", unet_kinds=(), text=True, rank=1)
    parts = {(m.weight_key, m.part) for m in read_lora(path).modules}
    assert {(T2 + "resblocks.5.attn.in_proj_weight", p) for p in (0, 1, 2)} <= parts
    assert (T2 + "resblocks.5.mlp.c_fc.weight", None) in parts


def test_locon_and_tucker_convolutions(tmp_path):
    path = tmp_path / "locon.safetensors"
    written = write_lora(path, "sd-v1", "kohya", unet_kinds=("conv",), text=False, tucker=True,
                         rank=3, alpha=1.5)
    modules = {m.weight_key: m for m in read_lora(path).modules}
    row = next(r for r in written if r.weight_key.endswith("input_blocks.1.0.in_layers.2.weight"))
    assert row.mid is not None and modules[row.weight_key].shape == (320, 320, 3, 3)
    assert_close(modules[row.weight_key].delta(), row.delta())
    op = next(r for r in written if r.weight_key.endswith("input_blocks.3.0.op.weight"))
    assert_close(modules[op.weight_key].delta(), op.delta())


def test_alpha_defaults_to_rank_and_scales_by_alpha_over_rank(tmp_path):
    rng = np.random.default_rng(0)
    down, up = rng.standard_normal((4, 768), np.float32), rng.standard_normal((320, 4), np.float32)
    name = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k"
    write_safetensors(tmp_path / "a.safetensors", {f"{name}.lora_down.weight": down,
                                                   f"{name}.lora_up.weight": up})
    write_safetensors(tmp_path / "b.safetensors", {f"{name}.lora_down.weight": down,
                                                   f"{name}.lora_up.weight": up,
                                                   f"{name}.alpha": np.array(1.0, np.float16)})
    (plain,), (scaled,) = read_lora(tmp_path / "a.safetensors").modules, read_lora(tmp_path / "b.safetensors").modules
    np.testing.assert_allclose(plain.delta(), up @ down, rtol=1e-5)
    np.testing.assert_allclose(scaled.delta(), up @ down / 4, rtol=1e-5)


def test_peft_alphas_from_diffusers_metadata(tmp_path):
    path = tmp_path / "peft.safetensors"
    metadata = {"lora_adapter_metadata": json.dumps({
        "unet.lora_alpha": 8, "unet.r": 4, "unet.alpha_pattern": {"attn2.to_k": 2},
        "text_encoder.lora_alpha": 1})}
    written = write_lora(path, "sd-v1", "peft", unet_kinds=("attention",), rank=4, alpha=None,
                         metadata=metadata)
    modules = {(m.weight_key, m.part): m for m in read_lora(path).modules}
    for row in written:
        expected = 0.25 if row.network == "text" else (0.5 if row.name.endswith("attn2.to_k") else 2.0)
        assert modules[(row.weight_key, row.part)].scale == expected, row.name


def test_diffusers_attention_processor_names(tmp_path):
    rng = np.random.default_rng(1)
    tensors = {}
    for name in ("unet.down_blocks.1.attentions.1.transformer_blocks.0.attn1.processor.to_out_lora",
                 "text_encoder.text_model.encoder.layers.2.self_attn.to_k_lora"):
        width = 640 if name.startswith("unet") else 768
        tensors[name + ".down.weight"] = rng.standard_normal((2, width), np.float32)
        tensors[name + ".up.weight"] = rng.standard_normal((width, 2), np.float32)
    write_safetensors(tmp_path / "old.safetensors", tensors)
    lora = read_lora(tmp_path / "old.safetensors")
    assert {m.target for m in lora.modules} == {
        U + "input_blocks.5.1.transformer_blocks.0.attn1.to_out.0", T1 + "encoder.layers.2.self_attn.k_proj"}


# ----------------------------------------------------------------- family

def _one(tmp_path, name: str, down_shape, up_shape) -> str:
    path = tmp_path / f"{len(list(tmp_path.iterdir()))}.safetensors"
    write_safetensors(path, {f"{name}.lora_down.weight": np.zeros(down_shape, np.float16),
                             f"{name}.lora_up.weight": np.zeros(up_shape, np.float16)})
    return path


def test_family_from_the_text_width_and_the_unet_context_width(tmp_path):
    to_k = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k"
    q = "lora_te_text_model_encoder_layers_0_self_attn_q_proj"
    assert read_lora(_one(tmp_path, to_k, (4, 768), (320, 4))).family == "sd-v1"
    assert read_lora(_one(tmp_path, to_k, (4, 1024), (320, 4))).family == "sd-v2"
    assert read_lora(_one(tmp_path, to_k, (4, 2048), (320, 4))).family == "sdxl"
    assert read_lora(_one(tmp_path, q, (4, 768), (768, 4))).family == "sd-v1"
    assert read_lora(_one(tmp_path, q, (4, 1024), (1024, 4))).family == "sd-v2"
    assert read_lora(_one(tmp_path, "lora_te1_text_model_encoder_layers_0_self_attn_q_proj",
                          (4, 768), (768, 4))).family == "sdxl"
    attn1 = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q"
    assert read_lora(_one(tmp_path, attn1, (4, 320), (320, 4))).family is None  # fits either


def test_an_sdxl_lora_is_recognised_not_resolved(tmp_path):
    path = tmp_path / "xl.safetensors"
    name = "lora_unet_input_blocks_4_1_transformer_blocks_1_attn2_to_k"  # depth 2: SDXL only
    write_safetensors(path, {f"{name}.lora_down.weight": np.zeros((4, 2048), np.float16),
                             f"{name}.lora_up.weight": np.zeros((640, 4), np.float16),
                             "lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_down.weight":
                                 np.zeros((4, 1280), np.float16),
                             "lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_up.weight":
                                 np.zeros((5120, 4), np.float16)})
    lora = read_lora(path)
    assert (lora.family, lora.modules) == ("sdxl", ())


def test_mixed_families_are_refused(tmp_path):
    path = tmp_path / "mixed.safetensors"
    write_safetensors(path, {
        "lora_unet_mid_block_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight": np.zeros((4, 1024)),
        "lora_unet_mid_block_attentions_0_transformer_blocks_0_attn2_to_k.lora_up.weight": np.zeros((1280, 4)),
        "lora_te_text_model_encoder_layers_0_mlp_fc1.lora_down.weight": np.zeros((4, 768)),
        "lora_te_text_model_encoder_layers_0_mlp_fc1.lora_up.weight": np.zeros((3072, 4))})
    with pytest.raises(LoraProblem, match="different model families"):
        read_lora(path)


# ----------------------------------------------------------------- refusals

def _problem(path) -> str:
    with pytest.raises(LoraProblem) as caught:
        read_lora(path)
    message = str(caught.value)
    assert message.startswith(f"The LoRA {path.name} cannot be used: ") and message.endswith(".")
    assert "\n" not in message
    return message


def test_a_damaged_file(tmp_path):
    path = tmp_path / "cut.safetensors"
    write_lora(path, "sd-v1", "kohya", unet_kinds=("attention",), text=False, unet_every=8)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    assert "not a readable safetensors file (the file is cut short" in _problem(path)
    path.write_bytes(b"not a model at all")
    assert "not a readable safetensors file" in _problem(path)


def test_pickled_files_are_not_opened(tmp_path):
    path = tmp_path / "style.pt"
    path.write_bytes(b"\x80\x02}q\x00.")  # a pickle: never unpickled, so harmless here
    assert "pickled PyTorch file" in _problem(path) and ".safetensors version" in _problem(path)
    disguised = tmp_path / "style.safetensors"
    disguised.write_bytes(b"PK\x03\x04" + b"\x00" * 60)  # torch.save's zip archive
    assert "pickled PyTorch file under a .safetensors name" in _problem(disguised)


def test_a_file_without_lora_keys(tmp_path):
    path = tmp_path / "checkpoint.safetensors"
    write_safetensors(path, {"model.diffusion_model.out.2.weight": np.zeros((4, 320, 3, 3), np.float16)})
    assert "holds no LoRA tensors" in _problem(path)


def test_loha_and_lokr_are_refused_by_name(tmp_path):
    for key in ("lora_unet_down_blocks_0_attentions_0_proj_in.hada_w1_a",
                "lora_unet_down_blocks_0_attentions_0_proj_in.lokr_w1"):
        path = tmp_path / "lyco.safetensors"
        write_safetensors(path, {key: np.zeros((4, 4), np.float16)})
        assert "LoHa/LoKr files are not supported yet" in _problem(path)


def test_shapes_that_do_not_fit(tmp_path):
    name = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q"
    path = tmp_path / "bad.safetensors"
    write_safetensors(path, {f"{name}.lora_down.weight": np.zeros((4, 320), np.float16),
                             f"{name}.lora_up.weight": np.zeros((320, 8), np.float16)})
    assert "shapes do not fit" in _problem(path) and "rank" in _problem(path)
    write_safetensors(path, {f"{name}.lora_down.weight": np.zeros((4, 320), np.float16),
                             f"{name}.lora_up.weight": np.zeros((320, 4), np.float16),
                             f"{name}.alpha": np.zeros((3,), np.float16)})
    assert "one finite number" in _problem(path)
    write_safetensors(path, {f"{name}.lora_down.weight": np.zeros((4, 320), np.float16)})
    assert "lacks its up tensor" in _problem(path)


def test_names_no_sd_network_has(tmp_path):
    path = tmp_path / "odd.safetensors"
    name = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_1_attn1_to_q"  # depth 2
    write_safetensors(path, {f"{name}.lora_down.weight": np.zeros((4, 320), np.float16),
                             f"{name}.lora_up.weight": np.zeros((320, 4), np.float16)})
    assert f"'{name}', which the UNet of an SD 1.x or 2.x model does not have" in _problem(path)
    write_safetensors(path, {"lora_unet_x.lora_down.weight": np.zeros((4, 320), np.float16),
                             "lora_unet_x.lora_up.weight": np.zeros((320, 4), np.float16),
                             "lora_unet_x.w_norm": np.zeros((320,), np.float16)})
    assert "does not know how to apply, such as 'lora_unet_x.w_norm'" in _problem(path)


def test_a_file_read_twice_unchanged_is_the_same_file(tmp_path):
    path = tmp_path / "same.safetensors"
    write_lora(path, "sd-v1", "kohya", unet_kinds=("attention",), text=False, unet_every=8)
    assert read_lora(path) == read_lora(path)
    first = read_lora(path)
    write_lora(path, "sd-v1", "kohya", unet_kinds=("attention",), text=False, unet_every=8, seed=9,
               rank=8)
    assert read_lora(path) != first
