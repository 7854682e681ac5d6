"""Which module of an original-layout (LDM) checkpoint a LoRA's module name means.

LoRA files name the module they change in one of several spellings: kohya-ss writes the
diffusers UNet path with every dot made an underscore (`down_blocks_0_attentions_0_...`),
or the original path the same way (`input_blocks_1_1_...`); diffusers/PEFT files keep the
diffusers path with its dots. Text-encoder modules use transformers' CLIP names in every
kind of file, SD 2.x's too, whose checkpoints hold OpenCLIP's.

Underscores make names ambiguous (`to_q` or `to.q`?), so nothing here splits a name:
every module our networks have is listed under each of its spellings, made from the real
layout's tensor names (engine/models/ldm_layout.py), and a LoRA's name is looked up whole.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Optional

from engine.models import families
from engine.models.ldm_layout import LAYOUT

UNET, TEXT = "unet", "text"


@dataclass(frozen=True)
class Target:
    network: str  # UNET or TEXT
    module: str  # the original-layout module, e.g. "model.diffusion_model.input_blocks.1.1.proj_in"
    part: Optional[int] = None  # q, k or v (0, 1, 2) of SD 2.x's stacked in_proj

    @property
    def weight_key(self) -> str:
        """The checkpoint tensor the LoRA changes (OpenCLIP's stacked q/k/v is a parameter
        of the attention itself, `attn.in_proj_weight`, not a submodule's `.weight`)."""
        return f"{self.module}_weight" if self.part is not None else f"{self.module}.weight"


# ----------------------------------------------------------------- UNet: original <-> diffusers

_RESNET_PARTS = {"in_layers.0": "norm1", "in_layers.2": "conv1", "emb_layers.1": "time_emb_proj",
                 "out_layers.0": "norm2", "out_layers.3": "conv2", "skip_connection": "conv_shortcut"}
_TOP_LEVEL = {"time_embed.0": "time_embedding.linear_1", "time_embed.2": "time_embedding.linear_2",
              "input_blocks.0.0": "conv_in", "out.0": "conv_norm_out", "out.2": "conv_out"}
_BLOCK = re.compile(r"(input_blocks|output_blocks)\.(\d+)\.(\d+)\.(.+)")
_MIDDLE = re.compile(r"middle_block\.(\d)\.(.+)")
_MIDDLE_PARTS = ("mid_block.resnets.0", "mid_block.attentions.0", "mid_block.resnets.1")
# SD's UNet has two resnets per down level (a third slot holds the downsampler) and three
# per up level; its middle block is resnet, transformer, resnet.
_PER_LEVEL = 3


def _named(path: str, rest: str) -> str:
    """A block's inner module: resnets rename theirs; transformers keep them."""
    return f"{path}.{_RESNET_PARTS.get(rest, rest) if '.resnets.' in path else rest}"


def diffusers_unet_name(original: str) -> Optional[str]:
    """The diffusers UNet2DConditionModel path of an original UNet module (without
    `model.diffusion_model.`), e.g. input_blocks.1.1.proj_in -> down_blocks.0.attentions.0.proj_in."""
    if original in _TOP_LEVEL:
        return _TOP_LEVEL[original]
    middle = _MIDDLE.fullmatch(original)
    if middle:
        return _named(_MIDDLE_PARTS[int(middle[1])], middle[2])
    match = _BLOCK.fullmatch(original)
    if not match:
        return None
    kind, block, slot, rest = match[1], int(match[2]), int(match[3]), match[4]
    if kind == "input_blocks":
        level, index = divmod(block - 1, _PER_LEVEL)
        if index == _PER_LEVEL - 1:  # input_blocks.3/6/9.0.op
            return f"down_blocks.{level}.downsamplers.0.conv" if rest == "op" else None
        path = f"down_blocks.{level}.{'resnets' if slot == 0 else 'attentions'}.{index}"
    else:
        level, index = divmod(block, _PER_LEVEL)
        if slot > 0 and rest == "conv":  # the upsampler: after the resnet, or after the transformer
            return f"up_blocks.{level}.upsamplers.0.conv"
        path = f"up_blocks.{level}.{'resnets' if slot == 0 else 'attentions'}.{index}"
    return _named(path, rest)


def _modules(family_id: str, network: str) -> list[str]:
    """The modules with a matrix or kernel (what a LoRA can change) of one network."""
    return [key[:-len(".weight")] for key, shape in LAYOUT[family_id][network].items()
            if key.endswith(".weight") and len(shape) >= 2]


def _underscored(name: str) -> str:
    return name.replace(".", "_")


def _add(table: dict[str, Target], name: str, target: Target) -> None:
    key = _underscored(name)
    if table.setdefault(key, target) != target:  # would make a lookup ambiguous
        raise AssertionError(f"two modules are spelt {key}: {table[key]} and {target}")


@functools.lru_cache(maxsize=None)
def _unet_table() -> dict[str, Target]:
    table: dict[str, Target] = {}
    for family_id in LAYOUT:  # SD 1.x and 2.x UNets have the same module names
        for module in _modules(family_id, "diffusion_model"):
            original = module[len(families.UNET):]
            target = Target(UNET, module)
            _add(table, original, target)
            _add(table, diffusers_unet_name(original), target)
    return table


# ----------------------------------------------------------------- text encoder

# transformers' CLIP names -> OpenCLIP's (SD 2.x checkpoints), with the part of a stacked tensor.
_OPEN_CLIP = {"self_attn.q_proj": ("attn.in_proj", 0), "self_attn.k_proj": ("attn.in_proj", 1),
              "self_attn.v_proj": ("attn.in_proj", 2), "self_attn.out_proj": ("attn.out_proj", None),
              "mlp.fc1": ("mlp.c_fc", None), "mlp.fc2": ("mlp.c_proj", None)}
_TEXT_MODEL = "text_model."


@functools.lru_cache(maxsize=None)
def _text_table(family_id: str) -> dict[str, Target]:
    """Each module under transformers' name, with and without the `text_model.` level
    (transformers 5 saves CLIPTextModel without it)."""
    table: dict[str, Target] = {}
    if family_id == families.SD2.id:
        layers = sorted({int(m) for m in re.findall(r"resblocks\.(\d+)\.",
                                                    " ".join(LAYOUT[family_id]["text_encoder"]))})
        for n in layers:
            for name, (open_clip, part) in _OPEN_CLIP.items():
                target = Target(TEXT, f"{families.SD2_TEXT}transformer.resblocks.{n}.{open_clip}", part)
                for level in (_TEXT_MODEL, ""):
                    _add(table, f"{level}encoder.layers.{n}.{name}", target)
    else:
        for module in _modules(family_id, "text_encoder"):
            if "embedding" in module:
                continue
            transformers_name = module[len(families.SD1_TEXT):]
            target = Target(TEXT, module)
            _add(table, transformers_name, target)
            _add(table, transformers_name.removeprefix(_TEXT_MODEL), target)
    return table


# ----------------------------------------------------------------- lookup

# diffusers' older attention-processor LoRAs: `attn1.processor.to_q_lora`, `self_attn.to_q_lora`.
_OLD_TEXT = {"to_q": "q_proj", "to_k": "k_proj", "to_v": "v_proj", "to_out": "out_proj"}


def normalise_diffusers(network: str, path: str) -> str:
    """A dotted diffusers path as diffusers' current modules name it (older files name the
    attention processor's LoRA layers, not the layers themselves)."""
    path = path.replace(".processor.", ".")
    head, _, last = path.rpartition(".")
    if network == UNET and last == "to_out":
        return f"{path}.0"
    if network == TEXT and last in _OLD_TEXT and head.endswith("self_attn"):
        return f"{head}.{_OLD_TEXT[last]}"
    return path


def resolve(network: str, name: str, family_id: Optional[str]) -> Optional[Target]:
    """The module a LoRA's name (dotted or underscored, without its `lora_unet_` / `unet.`
    prefix) means in `family_id`'s checkpoints, or None when it has no such module.
    UNet names are the same in every family we run; text names need the family."""
    if network == UNET:
        return _unet_table().get(_underscored(name))
    return _text_table(family_id or families.SD1.id).get(_underscored(name))
