"""LoRAs merged into built networks and taken off: exact values, in Keras layout.

Most tests need only SD 1.x's text encoder (a few seconds to build): how apply, switch,
take-off and refusals behave does not depend on the network. The UNet's convolutions
(the session's built SD 1.x UNet) and SD 2.x's stacked q/k/v (a network of its own) are slow.
"""
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from engine.models.lora_file import LoraFile, LoraModule, LoraProblem, read_lora
from tests.engine.lora_files import write_lora


@pytest.fixture(scope="module")
def text_encoder():
    from engine.backends.keras_sd import TextEncoder
    return TextEncoder(77, download_weights=False)


@pytest.fixture
def networks(text_encoder):
    """The text encoder as built, put back after each test (the tests change its weights)."""
    saved = [np.array(w) for w in text_encoder.get_weights()]
    yield SimpleNamespace(text_encoder=text_encoder, diffusion_model=None)
    text_encoder.set_weights(saved)


def assert_close(ours: np.ndarray, theirs: np.ndarray) -> None:
    """Equal up to float32 rounding (numpy's assert_allclose is slow on arrays this size)."""
    assert ours.shape == theirs.shape
    ours = np.ascontiguousarray(ours, dtype=np.float64)  # one memory order: a fast subtraction
    assert np.abs(ours - theirs).max() <= 1e-5 * np.abs(theirs).max() + 1e-7


def _kernel(text_encoder, layer: int, name: str):
    """The Keras variable of transformers' `encoder.layers.N.<name>` (SD 1.x)."""
    layers = [l for l in text_encoder.layers if type(l).__name__ == "CLIPEncoderLayer"]
    owner = layers[layer]
    if name.startswith("self_attn."):
        return getattr(owner.clip_attn, name.split(".")[1]).kernel
    return getattr(owner, name.split(".")[1]).kernel


def _values(model) -> list[np.ndarray]:
    return [np.array(v.numpy()) for v in model.weights]


def _expected(text_encoder, rows, weights) -> dict:
    """Each changed variable's value by the test's own float64 sum: original + weight * delta.T."""
    expected = {}
    for written, weight in zip(rows, weights):
        for row in written:
            layer, name = row.name.replace(".", "_").split("_layers_")[1].split("_", 1)
            name = name.replace("self_attn_", "self_attn.").replace("mlp_", "mlp.")
            variable = _kernel(text_encoder, int(layer), name)
            base = expected.get(id(variable), (variable, variable.numpy().astype(np.float64)))[1]
            expected[id(variable)] = (variable, base + weight * row.delta().T)
    return expected


@pytest.fixture
def two_loras(tmp_path):
    a, b = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    # Every 4th layer of the one and every 3rd of the other: some kernels both change.
    rows_a = write_lora(a, "sd-v1", "kohya", unet_kinds=(), rank=4, alpha=2.0, seed=1, text_every=4)
    rows_b = write_lora(b, "sd-v1", "peft", unet_kinds=(), rank=8, alpha=None, seed=2, text_every=3)
    return (read_lora(a), rows_a), (read_lora(b), rows_b)


def test_apply_then_take_off_restores_the_exact_original_values(networks, two_loras):
    from engine.backends.lora_weights import LoraWeights

    (lora, rows), _ = two_loras
    before = _values(networks.text_encoder)
    expected = _expected(networks.text_encoder, [rows], [0.8])
    weights = LoraWeights(networks, "sd-v1")
    weights.apply([(lora, 0.8, 1.0)])
    assert weights.applied == ((lora, 0.8, 1.0),)
    for variable, value in expected.values():
        assert_close(variable.numpy(), value)
    changed = sum(not np.array_equal(a, b) for a, b in zip(before, _values(networks.text_encoder)))
    assert changed == len(rows)  # every module's kernel, and nothing else (biases stay)
    weights.apply([])
    assert weights.applied == ()
    assert all(np.array_equal(a, b) for a, b in zip(before, _values(networks.text_encoder)))


def test_two_loras_add_and_a_switch_leaves_nothing_of_the_first(networks, two_loras):
    from engine.backends.lora_weights import LoraWeights

    (a, rows_a), (b, rows_b) = two_loras
    before = _values(networks.text_encoder)
    expected_both = _expected(networks.text_encoder, [rows_a, rows_b], [0.5, -1.25])
    expected_b = _expected(networks.text_encoder, [rows_b], [0.75])
    weights = LoraWeights(networks, "sd-v1")
    weights.apply([(a, 0.5, 0.0), (b, -1.25, 0.0)])
    for variable, value in expected_both.values():
        assert_close(variable.numpy(), value)
    weights.apply([(b, 0.75, 2.0)])
    for variable, value in expected_b.values():
        assert_close(variable.numpy(), value)
    weights.apply([])
    assert all(np.array_equal(x, y) for x, y in zip(before, _values(networks.text_encoder)))


def test_the_same_list_twice_touches_nothing(networks, two_loras, monkeypatch):
    from engine.backends.lora_weights import LoraWeights

    (a, _), (b, _) = two_loras
    weights = LoraWeights(networks, "sd-v1")
    weights.apply([(a, 1.0, 1.0), (b, 0.5, 0.5)])
    variable_class = type(networks.text_encoder.weights[0])
    calls = []
    original_assign = variable_class.assign
    monkeypatch.setattr(variable_class, "assign", lambda self, value: calls.append(self) or original_assign(self, value))
    again = read_lora(a.path)  # read anew: an unchanged file is the same LoRA
    weights.apply([(again, 1.0, 1.0), (b, 0.5, 0.5)])
    assert calls == []
    weights.apply([(again, 1.0, 1.0), (b, 0.25, 0.5)])  # only b's share changed: only its kernels
    b_kernels = {(m.weight_key, m.part) for m in b.modules}
    assert len(calls) == len(b_kernels) == len({id(v) for v in calls})


def test_a_weight_of_zero_leaves_its_network_alone(networks, two_loras):
    from engine.backends.lora_weights import LoraWeights

    (a, _), _ = two_loras
    before = _values(networks.text_encoder)
    LoraWeights(networks, "sd-v1").apply([(a, 0.0, 1.0)])  # text-only LoRA, text weight 0
    assert all(np.array_equal(x, y) for x, y in zip(before, _values(networks.text_encoder)))


def test_refusals_change_nothing(networks, two_loras, tmp_path):
    from engine.backends.lora_weights import LoraWeights

    (a, _), _ = two_loras
    weights = LoraWeights(networks, "sd-v1")
    weights.apply([(a, 1.0, 1.0)])
    before = _values(networks.text_encoder)
    sd2 = tmp_path / "sd2.safetensors"
    write_lora(sd2, "sd-v2", "kohya", unet_kinds=(), rank=2)
    xl = LoraFile(tmp_path / "xl.safetensors", "sdxl", ())
    up, down = np.zeros((768, 2), np.float16), np.zeros((2, 768), np.float16)
    missing = LoraModule("cond_stage_model.transformer.text_model.encoder.layers.40.mlp.fc1", "text",
                         None, down, up, None, 1.0)
    misfit = LoraModule("cond_stage_model.transformer.text_model.encoder.layers.0.mlp.fc1", "text",
                        None, down, up, None, 1.0)  # fc1 is 3072 wide, not 768
    cases = {
        "it is a LoRA for SD 2.x models, and the model in use is SD 1.x": read_lora(sd2),
        "it is a LoRA for SDXL models, and the model in use is SD 1.x": xl,
        "which this SD 1.x model does not have": LoraFile(Path("m.safetensors"), "sd-v1", (missing,)),
        "has shape (768, 768), which does not fit": LoraFile(Path("s.safetensors"), "sd-v1", (misfit,)),
    }
    for message, bad in cases.items():
        with pytest.raises(LoraProblem, match=message.replace("(", r"\(").replace(")", r"\)")):
            weights.apply([(a, 0.5, 0.5), (bad, 1.0, 1.0)])
        assert all(np.array_equal(x, y) for x, y in zip(before, _values(networks.text_encoder)))
        assert weights.applied == ((a, 1.0, 1.0),)


def test_forget_drops_the_copies_without_writing_them_back(networks, two_loras):
    from engine.backends.lora_weights import LoraWeights

    (a, _), _ = two_loras
    weights = LoraWeights(networks, "sd-v1")
    weights.apply([(a, 1.0, 1.0)])
    merged = _values(networks.text_encoder)
    weights.forget()  # as if another checkpoint had just been loaded (here: the merged values)
    assert weights.applied == ()
    weights.apply([])
    assert all(np.array_equal(x, y) for x, y in zip(merged, _values(networks.text_encoder)))


# ----------------------------------------------------------------- whole networks (slow)

@pytest.mark.slow
def test_unet_convolutions_and_projections_in_keras_layout(tmp_path, sd_engine):
    from engine.backends.lora_weights import LoraWeights
    from engine.models import ldm_import

    # The session's built UNet (a build of its own took half a minute); every value this
    # test changes it puts back exactly, which it checks.
    unet = sd_engine.loaded_backend().components.diffusion_model
    networks = SimpleNamespace(text_encoder=None, diffusion_model=unet)
    variables = {entry.key: entry.variable for entry in ldm_import.unet_plan(unet)}
    path = tmp_path / "locon.safetensors"
    rows = write_lora(path, "sd-v1", "kohya-original", unet_kinds=("attention", "ff", "proj", "conv"),
                      text=False, unet_every=5, tucker=True, rank=3, alpha=6.0)
    before = {row.weight_key: variables[row.weight_key].numpy() for row in rows}
    untouched = variables["model.diffusion_model.out.2.weight"].numpy()
    weights = LoraWeights(networks, "sd-v1")
    weights.apply([(read_lora(path), 0.0, 0.6)])
    kinds = set()
    for row in rows:
        delta = row.delta()
        # PyTorch (out, in, kh, kw) -> Keras (kh, kw, in, out); (out, in) -> (in, out)
        keras_delta = delta.transpose(2, 3, 1, 0) if delta.ndim == 4 else delta.T
        kinds.add(delta.shape[2:])
        assert_close(variables[row.weight_key].numpy(), before[row.weight_key] + 0.6 * keras_delta)
    assert {(3, 3), (1, 1), ()} <= kinds  # 3x3 convs, 1x1 projections and linear layers all met
    assert np.array_equal(variables["model.diffusion_model.out.2.weight"].numpy(), untouched)
    weights.apply([])
    for row in rows:
        assert np.array_equal(variables[row.weight_key].numpy(), before[row.weight_key])


@pytest.mark.slow
def test_sd2_q_k_v_land_in_their_own_projection(tmp_path):
    from engine.backends.keras_sd import TextEncoderV2
    from engine.backends.lora_weights import LoraWeights

    text = TextEncoderV2(77, download_weights=False)
    networks = SimpleNamespace(text_encoder=text, diffusion_model=None)
    path = tmp_path / "sd2.safetensors"
    rows = write_lora(path, "sd-v2", "kohya", unet_kinds=(), rank=2, alpha=1.0)
    layer = [l for l in text.layers if type(l).__name__ == "CLIPEncoderLayer"][4]
    kernels = {0: layer.clip_attn.q_proj.kernel, 1: layer.clip_attn.k_proj.kernel,
               2: layer.clip_attn.v_proj.kernel}
    before = {part: kernel.numpy() for part, kernel in kernels.items()}
    LoraWeights(networks, "sd-v2").apply([(read_lora(path), 1.5, 1.0)])
    for part, kernel in kernels.items():
        row = next(r for r in rows if r.name == f"text_model_encoder_layers_4_self_attn_"
                                                f"{'qkv'[part]}_proj")
        assert row.part == part
        assert_close(kernel.numpy(), before[part] + 1.5 * row.delta().T)


def test_values_float16_holds_are_kept_in_half_the_memory_and_still_restored_exactly(networks, two_loras):
    """A float16 checkpoint loads into float32 variables with no bit float16 lacks: the
    copies kept for taking a LoRA off need only half the memory (they took all of it)."""
    from engine.backends.lora_weights import LoraWeights

    encoder = networks.text_encoder
    encoder.set_weights([w.astype(np.float16).astype(np.float32) for w in encoder.get_weights()])
    (lora, rows), _ = two_loras
    before = _values(encoder)
    weights = LoraWeights(networks, "sd-v1")
    weights.apply([(lora, 0.8, 1.0)])
    changed = {id(v): v for v, _ in _expected(encoder, [rows], [0.8]).values()}
    assert weights.kept_bytes == sum(int(np.prod(v.shape)) * 2 for v in changed.values())
    weights.apply([])
    assert all(np.array_equal(a, b) for a, b in zip(before, _values(encoder)))
