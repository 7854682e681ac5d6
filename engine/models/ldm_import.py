"""Which tensor of an original-layout (LDM) checkpoint fills which weight of KerasCV's networks.

Mapping goes by structure, never by Keras's auto-generated layer names (they come
from global counters): each network's weight-bearing layers are taken in graph order,
one list per layer class, and paired with the original module names in the order
the original architecture creates them. Inside a layer, weights are reached by the
attribute KerasCV gives them (`entry_flow[2]`, `transformer_block.attn2.to_k`).

A plan is made and checked whole (every tensor present, every shape right) before a
single weight is written, so a damaged file leaves the networks as they were.

Layout facts: PyTorch stores conv kernels (out, in, kh, kw) and linear weights
(out, in); Keras wants (kh, kw, in, out) and (in, out). OpenCLIP (SD 2.x) stacks the
attention's q, k and v in one `in_proj` tensor.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, Iterator, Optional

import numpy as np

from engine.models.families import SD2, UNET, VAE, Family


class CheckpointMismatch(ValueError):
    """The file's tensors do not fit the architecture; the message names the first that does not."""


@dataclass(frozen=True)
class Entry:
    variable: object  # a Keras variable
    key: str  # the tensor in the file
    part: Optional[int] = None  # q, k or v (0, 1, 2) of a stacked in_proj tensor


Reader = Callable[[str], np.ndarray]


# ----------------------------------------------------------------- leaves

def _kernel_and_bias(layer, key: str) -> Iterator[Entry]:
    """A Dense, a Conv2D or KerasCV's PaddedConv2D (a conv behind zero padding)."""
    layer = getattr(layer, "conv2d", layer)
    yield Entry(layer.kernel, key + ".weight")
    if getattr(layer, "use_bias", True):
        yield Entry(layer.bias, key + ".bias")


def _kernel_only(layer, key: str) -> Iterator[Entry]:
    yield Entry(layer.kernel, key + ".weight")


def _norm(layer, key: str) -> Iterator[Entry]:
    yield Entry(layer.gamma, key + ".weight")
    yield Entry(layer.beta, key + ".bias")


# ----------------------------------------------------------------- blocks

def _unet_res_block(block, key: str) -> Iterator[Entry]:
    yield from _norm(block.entry_flow[0], f"{key}.in_layers.0")
    yield from _kernel_and_bias(block.entry_flow[2], f"{key}.in_layers.2")
    yield from _kernel_and_bias(block.embedding_flow[1], f"{key}.emb_layers.1")
    yield from _norm(block.exit_flow[0], f"{key}.out_layers.0")
    yield from _kernel_and_bias(block.exit_flow[2], f"{key}.out_layers.3")
    if hasattr(block.residual_projection, "conv2d"):  # else the identity: same channels
        yield from _kernel_and_bias(block.residual_projection, f"{key}.skip_connection")


def _attention(attn, key: str) -> Iterator[Entry]:
    for name in ("to_q", "to_k", "to_v"):
        yield from _kernel_only(getattr(attn, name), f"{key}.{name}")
    yield from _kernel_and_bias(attn.out_proj, f"{key}.to_out.0")


def _spatial_transformer(block, key: str) -> Iterator[Entry]:
    yield from _norm(block.norm, f"{key}.norm")
    yield from _kernel_and_bias(block.proj1, f"{key}.proj_in")
    inner, tkey = block.transformer_block, f"{key}.transformer_blocks.0"
    yield from _norm(inner.norm1, f"{tkey}.norm1")
    yield from _attention(inner.attn1, f"{tkey}.attn1")
    yield from _norm(inner.norm2, f"{tkey}.norm2")
    yield from _attention(inner.attn2, f"{tkey}.attn2")
    yield from _norm(inner.norm3, f"{tkey}.norm3")
    yield from _kernel_and_bias(inner.geglu.dense, f"{tkey}.ff.net.0.proj")
    yield from _kernel_and_bias(inner.dense, f"{tkey}.ff.net.2")
    yield from _kernel_and_bias(block.proj2, f"{key}.proj_out")


def _upsample(block, key: str) -> Iterator[Entry]:
    yield from _kernel_and_bias(block.conv, f"{key}.conv")


def _vae_res_block(block, key: str) -> Iterator[Entry]:
    yield from _norm(block.norm1, f"{key}.norm1")
    yield from _kernel_and_bias(block.conv1, f"{key}.conv1")
    yield from _norm(block.norm2, f"{key}.norm2")
    yield from _kernel_and_bias(block.conv2, f"{key}.conv2")
    if hasattr(block.residual_projection, "conv2d"):
        yield from _kernel_and_bias(block.residual_projection, f"{key}.nin_shortcut")


def _vae_attention(block, key: str) -> Iterator[Entry]:
    yield from _norm(block.norm, f"{key}.norm")
    for name in ("q", "k", "v", "proj_out"):
        yield from _kernel_and_bias(getattr(block, name), f"{key}.{name}")


def _clip_embedding(layer, key: str, family: Family) -> Iterator[Entry]:
    if family is SD2:
        yield Entry(layer.token_embedding.embeddings, f"{key}token_embedding.weight")
        yield Entry(layer.position_embedding.embeddings, f"{key}positional_embedding")
    else:
        yield Entry(layer.token_embedding.embeddings, f"{key}embeddings.token_embedding.weight")
        yield Entry(layer.position_embedding.embeddings, f"{key}embeddings.position_embedding.weight")


def _clip_layer(layer, key: str, family: Family) -> Iterator[Entry]:
    attn = layer.clip_attn
    if family is SD2:
        yield from _norm(layer.layer_norm1, f"{key}.ln_1")
        for part, name in enumerate(("q_proj", "k_proj", "v_proj")):
            dense = getattr(attn, name)
            yield Entry(dense.kernel, f"{key}.attn.in_proj_weight", part)
            yield Entry(dense.bias, f"{key}.attn.in_proj_bias", part)
        yield from _kernel_and_bias(attn.out_proj, f"{key}.attn.out_proj")
        yield from _norm(layer.layer_norm2, f"{key}.ln_2")
        yield from _kernel_and_bias(layer.fc1, f"{key}.mlp.c_fc")
        yield from _kernel_and_bias(layer.fc2, f"{key}.mlp.c_proj")
    else:
        yield from _norm(layer.layer_norm1, f"{key}.layer_norm1")
        for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
            yield from _kernel_and_bias(getattr(attn, name), f"{key}.self_attn.{name}")
        yield from _norm(layer.layer_norm2, f"{key}.layer_norm2")
        yield from _kernel_and_bias(layer.fc1, f"{key}.mlp.fc1")
        yield from _kernel_and_bias(layer.fc2, f"{key}.mlp.fc2")


# ----------------------------------------------------------------- networks

def _by_class(model) -> dict[str, list]:
    """Top-level layers with weights, one list per class, in graph order (which along
    each chain of the network is the order the constructor made them)."""
    layers = defaultdict(list)
    for layer in model.layers:
        if layer.weights:
            layers[type(layer).__name__].append(layer)
    return layers


def _pair(model, expected: dict[str, list[str]], what: str) -> Iterator[tuple[str, object, str]]:
    layers = _by_class(model)
    if set(layers) != set(expected) or any(len(layers[c]) != len(expected[c]) for c in expected):
        found = {c: len(v) for c, v in layers.items()}
        wanted = {c: len(v) for c, v in expected.items()}
        raise AssertionError(f"KerasCV's {what} changed shape: {found}, expected {wanted}")
    for cls, keys in expected.items():
        for layer, key in zip(layers[cls], keys):
            yield cls, layer, key


def _unet_keys() -> dict[str, list[str]]:
    """The original UNet's modules in the order KerasCV's constructor makes their twins."""
    res, attn = [], []
    for block in (1, 2, 4, 5, 7, 8):
        res.append(f"input_blocks.{block}.0")
        attn.append(f"input_blocks.{block}.1")
    res += ["input_blocks.10.0", "input_blocks.11.0", "middle_block.0", "middle_block.2"]
    attn.append("middle_block.1")
    res += [f"output_blocks.{block}.0" for block in range(12)]
    attn += [f"output_blocks.{block}.1" for block in range(3, 12)]
    return {
        "Dense": ["time_embed.0", "time_embed.2"],
        "PaddedConv2D": ["input_blocks.0.0", "input_blocks.3.0.op", "input_blocks.6.0.op",
                         "input_blocks.9.0.op", "out.2"],
        "ResBlock": res,
        "SpatialTransformer": attn,
        "Upsample": ["output_blocks.2.1", "output_blocks.5.2", "output_blocks.8.2"],
        "GroupNormalization": ["out.0"],
    }


def unet_plan(model, prefix: str = UNET) -> list[Entry]:
    makers = {"Dense": _kernel_and_bias, "PaddedConv2D": _kernel_and_bias,
              "ResBlock": _unet_res_block, "SpatialTransformer": _spatial_transformer,
              "Upsample": _upsample, "GroupNormalization": _norm}
    return _plan(model, _unet_keys(), makers, "diffusion model", prefix)


def _plan(model, expected: dict[str, list[str]], makers: dict, what: str, prefix: str) -> list[Entry]:
    """Each layer paired with its original module, expanded into its weights' entries."""
    return [entry for cls, layer, key in _pair(model, expected, what)
            for entry in makers[cls](layer, prefix + key)]


VAE_MAKERS = {"PaddedConv2D": _kernel_and_bias, "ResnetBlock": _vae_res_block,
              "AttentionBlock": _vae_attention, "GroupNormalization": _norm}


def decoder_plan(model, prefix: str = VAE) -> list[Entry]:
    blocks = ["decoder.mid.block_1", "decoder.mid.block_2"]
    for level in (3, 2, 1, 0):
        blocks += [f"decoder.up.{level}.block.{n}" for n in range(3)]
    expected = {
        "PaddedConv2D": ["post_quant_conv", "decoder.conv_in", "decoder.up.3.upsample.conv",
                         "decoder.up.2.upsample.conv", "decoder.up.1.upsample.conv",
                         "decoder.conv_out"],
        "ResnetBlock": blocks,
        "AttentionBlock": ["decoder.mid.attn_1"],
        "GroupNormalization": ["decoder.norm_out"],
    }
    return _plan(model, expected, VAE_MAKERS, "decoder", prefix)


def encoder_plan(model, prefix: str = VAE) -> list[Entry]:
    blocks = [f"encoder.down.{level}.block.{n}" for level in range(4) for n in range(2)]
    blocks += ["encoder.mid.block_1", "encoder.mid.block_2"]
    expected = {
        "PaddedConv2D": ["encoder.conv_in", "encoder.down.0.downsample.conv",
                         "encoder.down.1.downsample.conv", "encoder.down.2.downsample.conv",
                         "encoder.conv_out", "quant_conv"],
        "ResnetBlock": blocks,
        "AttentionBlock": ["encoder.mid.attn_1"],
        "GroupNormalization": ["encoder.norm_out"],
    }
    return _plan(model, expected, VAE_MAKERS, "image encoder", prefix)


def text_encoder_plan(model, family: Family, prefix: Optional[str] = None) -> list[Entry]:
    """`prefix`: where the text model's tensors start (SD 1.x files differ: see text_prefix)."""
    prefix = prefix if prefix is not None else family.text_prefix
    layers = _by_class(model)
    entries = list(_clip_embedding(layers["CLIPEmbedding"][0], prefix, family))
    blocks = "transformer.resblocks" if family is SD2 else "encoder.layers"
    for n, layer in enumerate(layers["CLIPEncoderLayer"]):
        entries += _clip_layer(layer, f"{prefix}{blocks}.{n}", family)
    final = "ln_final" if family is SD2 else "final_layer_norm"
    entries += _norm(layers["LayerNormalization"][0], prefix + final)
    return entries


def text_prefix(family: Family, keys) -> str:
    """Where the text model's tensors start. Most SD 1.x files keep transformers'
    `text_model.` level; some early ones lack it."""
    if family is SD2:
        return family.text_prefix
    with_level = family.text_prefix + "text_model."
    return with_level if any(k.startswith(with_level) for k in keys) else family.text_prefix


# ----------------------------------------------------------------- conversion

def source_shape(entry: Entry, target_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The shape the original layout stores this weight in (tests write files from it)."""
    if entry.part is not None:
        return (3 * target_shape[-1],) + tuple(target_shape[:-1])
    if len(target_shape) == 4:
        kh, kw, cin, cout = target_shape
        return (cout, cin, kh, kw)
    if len(target_shape) == 2 and entry.key.endswith(".weight") and "embedding" not in entry.key:
        return (target_shape[1], target_shape[0])
    return tuple(target_shape)


def to_keras(entry: Entry, array: np.ndarray, target_shape: tuple[int, ...]) -> np.ndarray:
    """The file's tensor as the Keras weight wants it; CheckpointMismatch when it cannot be."""
    if entry.part is not None:
        rows = array.shape[0] // 3 if array.ndim else 0
        if array.ndim not in (1, 2) or array.shape[0] != 3 * rows:
            raise CheckpointMismatch(f"'{entry.key}' has shape {tuple(array.shape)}, which is not "
                                     "three stacked projections")
        array = array[entry.part * rows:(entry.part + 1) * rows]
        if array.ndim == 2:
            array = array.T
    elif len(target_shape) == 4 and array.ndim in (2, 4) and "embedding" not in entry.key:
        if array.ndim == 2:  # a 1x1 convolution stored as a linear layer (newer VAE files)
            array = array[:, :, None, None]
        array = array.transpose(2, 3, 1, 0)
    elif len(target_shape) == 2 and array.ndim in (2, 4) and entry.key.endswith(".weight") \
            and "embedding" not in entry.key:
        if array.ndim == 4:  # a linear layer stored as a 1x1 convolution
            if array.shape[2:] != (1, 1):
                raise CheckpointMismatch(f"'{entry.key}' has shape {tuple(array.shape)}, where a "
                                         f"{target_shape[1]}x{target_shape[0]} weight belongs")
            array = array[:, :, 0, 0]
        array = array.T
    if tuple(array.shape) != tuple(target_shape):
        raise CheckpointMismatch(
            f"'{entry.key}' has shape {tuple(array.shape) if entry.part is None else 'that'} "
            f"where the architecture needs {source_shape(entry, target_shape)} "
            "(a file of another model family, or a damaged one)")
    return array


def check(plan: list[Entry], shapes: dict[str, tuple[int, ...]], what: str) -> None:
    """Every tensor the plan reads is in the file with the shape it needs."""
    missing = [e.key for e in plan if e.key not in shapes]
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise CheckpointMismatch(f"the {what} lacks '{missing[0]}'{more}")
    for entry in plan:
        target = tuple(entry.variable.shape)
        want = source_shape(entry, target)
        have = tuple(shapes[entry.key])
        if have != want and not _alternative_layout(have, want):
            raise CheckpointMismatch(f"'{entry.key}' has shape {have}, where the {what} needs "
                                     f"{want} (a file of another model family, or a damaged one)")


def header_problem(family: Family, shapes: dict[str, tuple[int, ...]]) -> Optional[str]:
    """What keeps a file of `family` from filling our networks, judged from its header alone
    (engine/models/ldm_layout.py lists what each network reads), or None."""
    from engine.models.ldm_layout import LAYOUT

    in_file, in_layout = text_prefix(family, shapes), text_prefix(family, LAYOUT[family.id]["text_encoder"])
    for network, wanted in LAYOUT[family.id].items():
        for key, want in wanted.items():
            if network == "text_encoder":
                key = in_file + key[len(in_layout):]
            have = shapes.get(key)
            if have is None:
                return f"it lacks the tensor '{key}' (an incomplete or damaged file)"
            if tuple(have) != tuple(want) and not _alternative_layout(tuple(have), tuple(want)):
                return (f"'{key}' has shape {tuple(have)} where SD Desk's {family.label} needs "
                        f"{tuple(want)} (a damaged file, or one of another architecture)")
    return None


def _alternative_layout(have: tuple, want: tuple) -> bool:
    """1x1 convolutions and linear layers are the same weights; files use either."""
    return (len(have) == 2 and len(want) == 4 and want[2:] == (1, 1) and have == want[:2]) or (
        len(have) == 4 and len(want) == 2 and have[2:] == (1, 1) and have[:2] == want)


def assign(plan: list[Entry], read: Reader) -> None:
    """Writes each weight from the file, one tensor in memory at a time (a stacked q/k/v
    tensor is read once for its three parts)."""
    cached_key, cached = None, None
    for entry in plan:
        if entry.key != cached_key:
            cached_key, cached = entry.key, read(entry.key)
        target = tuple(entry.variable.shape)
        value = to_keras(entry, cached, target)
        entry.variable.assign(np.ascontiguousarray(value, dtype=entry.variable.dtype))
