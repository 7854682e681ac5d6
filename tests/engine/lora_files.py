"""LoRA files in the real formats, filled with seeded random values (tests and the benchmark).

Each writer returns what it wrote as `Written` rows (the original-layout weight it
changes, its tensors, its alpha), so a test can compute the expected change with its
own arithmetic instead of the reader's.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

import numpy as np

from engine.models import families
from engine.models.ldm_layout import LAYOUT
from engine.models.lora_names import diffusers_unet_name
from engine.models.safetensors_file import write_safetensors

# Which UNet modules a LoRA changes, by kind (kohya's plain LoRA: attention, ff and the
# transformer's projections; LoCon adds the resnets' and samplers' convolutions).
ATTENTION = ("attn1.to_q", "attn1.to_k", "attn1.to_v", "attn1.to_out.0",
             "attn2.to_q", "attn2.to_k", "attn2.to_v", "attn2.to_out.0")
FF = ("ff.net.0.proj", "ff.net.2")
PROJ = ("proj_in", "proj_out")
CONV = ("in_layers.2", "out_layers.3", "skip_connection", "emb_layers.1", ".op", ".conv")
KINDS = {"attention": ATTENTION, "ff": FF, "proj": PROJ, "conv": CONV}
TEXT_MODULES = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj",
                "mlp.fc1", "mlp.fc2")
_OPEN_CLIP = {"self_attn.q_proj": "attn.in_proj_weight", "self_attn.k_proj": "attn.in_proj_weight",
              "self_attn.v_proj": "attn.in_proj_weight", "self_attn.out_proj": "attn.out_proj.weight",
              "mlp.fc1": "mlp.c_fc.weight", "mlp.fc2": "mlp.c_proj.weight"}


@dataclass(frozen=True)
class Written:
    network: str  # "unet" or "text"
    name: str  # the module's name in the file, prefix and suffix stripped
    weight_key: str  # the checkpoint tensor it changes
    part: Optional[int]
    down: np.ndarray
    up: np.ndarray
    alpha: Optional[float]
    mid: Optional[np.ndarray] = None

    def delta(self) -> np.ndarray:
        """alpha / rank * up @ down in float64, by numpy's plainest means: the test's own sum."""
        rank = self.down.shape[0]
        scale = (self.alpha if self.alpha is not None else rank) / rank
        up = self.up.astype(np.float64)[:, :, 0, 0] if self.up.ndim == 4 else self.up.astype(np.float64)
        down = self.down.astype(np.float64)
        if self.mid is not None:  # kernel[o, i] = sum up[o, r] mid[r, s] down[s, i]
            kernel = np.tensordot(np.tensordot(up, self.mid.astype(np.float64), axes=(1, 0)),
                                  down[:, :, 0, 0], axes=(1, 0))  # (out, kh, kw, in)
            return scale * kernel.transpose(0, 3, 1, 2)
        if down.ndim == 4:  # kernel[o, i, y, x] = sum up[o, r] down[r, i, y, x]
            return scale * np.tensordot(up, down, axes=(1, 0))
        return scale * up @ down


def unet_targets(family_id: str = "sd-v1", kinds: Iterable[str] = ("attention", "ff", "proj")
                 ) -> list[tuple[str, tuple[int, ...]]]:
    """(original module path without `model.diffusion_model.`, weight shape) of each module of
    those kinds."""
    endings = tuple(end for kind in kinds for end in KINDS[kind])
    found = []
    for key, shape in LAYOUT[family_id]["diffusion_model"].items():
        module = key[len(families.UNET):-len(".weight")]
        if key.endswith(".weight") and len(shape) >= 2 and module.endswith(endings) \
                and not module.startswith(("input_blocks.0.", "out.")):
            found.append((module, tuple(shape)))
    return found


def text_targets(family_id: str = "sd-v1") -> list[tuple[str, str, Optional[int], tuple[int, ...]]]:
    """(transformers module path, checkpoint weight key, part, weight shape) of every layer."""
    layout = LAYOUT[family_id]["text_encoder"]
    found = []
    if family_id == families.SD2.id:
        layers = sum(1 for key in layout if key.endswith("attn.in_proj_weight"))
        for n in range(layers):
            base = f"{families.SD2_TEXT}transformer.resblocks.{n}."
            for part, name in enumerate(TEXT_MODULES):
                key = base + _OPEN_CLIP[name]
                shape = layout[key]
                stacked = key.endswith("in_proj_weight")
                found.append((f"text_model.encoder.layers.{n}.{name}", key, part if stacked else None,
                              (shape[0] // 3, shape[1]) if stacked else tuple(shape)))
    else:
        for key, shape in layout.items():
            module = key[len(families.SD1_TEXT):-len(".weight")]
            if key.endswith(".weight") and module.endswith(TEXT_MODULES):
                found.append((module, key, None, tuple(shape)))
    return found


def _pair(rng, shape, rank, strength, dtype, tucker=False):
    """down and up for a weight of `shape`, scaled so that the delta is about `strength`
    times a 1/sqrt(fan-in) weight (when alpha / sqrt(rank) is 1)."""
    out, inp, kernel = shape[0], shape[1], tuple(shape[2:])
    fan_in = inp * int(np.prod(kernel or (1,)))
    if kernel and tucker:
        down = rng.standard_normal((rank, inp, 1, 1), np.float32) / np.sqrt(inp)
        mid = rng.standard_normal((rank, rank) + kernel, np.float32) / np.sqrt(rank * np.prod(kernel))
        up = rng.standard_normal((out, rank, 1, 1), np.float32) * strength
        return down.astype(dtype), up.astype(dtype), mid.astype(dtype)
    down = rng.standard_normal((rank, inp) + kernel, np.float32) / np.sqrt(fan_in)
    up = rng.standard_normal((out, rank) + ((1, 1) if kernel else ()), np.float32) * strength
    return down.astype(dtype), up.astype(dtype), None


def _file_name(network: str, module: str, form: str) -> str:
    """The module's name as `form` writes it (no prefix, no suffix)."""
    if network == "text":
        return module.replace(".", "_") if form.startswith("kohya") else module
    if form == "kohya-original":
        return module.replace(".", "_")
    diffusers = diffusers_unet_name(module)
    return diffusers.replace(".", "_") if form == "kohya" else diffusers


_KEYS = {  # form -> (unet prefix, text prefix, down suffix, up suffix, alpha suffix)
    "kohya": ("lora_unet_", "lora_te_", ".lora_down.weight", ".lora_up.weight", ".alpha"),
    "kohya-original": ("lora_unet_", "lora_te_", ".lora_down.weight", ".lora_up.weight", ".alpha"),
    "peft": ("unet.", "text_encoder.", ".lora_A.weight", ".lora_B.weight", ".alpha"),
    "diffusers-old": ("unet.", "text_encoder.", ".lora.down.weight", ".lora.up.weight", ".alpha"),
}


def write_lora(path: Path, family_id: str = "sd-v1", form: str = "kohya",
               unet_kinds: Iterable[str] = ("attention", "ff", "proj"), text: bool = True,
               rank: int = 4, alpha: Optional[float] = 2.0, dtype: str = "float16", seed: int = 0,
               strength: float = 0.3, tucker: bool = False, unet_every: int = 1, text_every: int = 1,
               metadata: Optional[dict] = None) -> list[Written]:
    """A LoRA of `form` ("kohya": diffusers names underscored; "kohya-original": original
    names underscored; "peft": lora_A/lora_B; "diffusers-old": .lora.down/.lora.up) for
    `family_id`'s networks: the UNet modules of `unet_kinds` (every `unet_every`-th) and,
    with `text`, the text encoder's (every `text_every`-th). `alpha` None writes no alpha tensors."""
    rng = np.random.default_rng(seed)
    unet_prefix, text_prefix, down_suffix, up_suffix, alpha_suffix = _KEYS[form]
    rows = []
    for module, shape in unet_targets(family_id, unet_kinds)[::unet_every]:
        down, up, mid = _pair(rng, shape, rank, strength, dtype, tucker)
        rows.append(Written("unet", _file_name("unet", module, form), f"{families.UNET}{module}.weight",
                            None, down, up, alpha, mid))
    if text:
        for module, key, part, shape in text_targets(family_id)[::text_every]:
            down, up, mid = _pair(rng, shape, rank, strength, dtype)
            rows.append(Written("text", _file_name("text", module, form), key, part, down, up, alpha))
    tensors = {}
    for row in rows:
        name = (unet_prefix if row.network == "unet" else text_prefix) + row.name
        tensors[name + down_suffix], tensors[name + up_suffix] = row.down, row.up
        if row.mid is not None:
            tensors[name + ".lora_mid.weight"] = row.mid
        if alpha is not None:
            tensors[name + alpha_suffix] = np.array(alpha, np.float32)
    write_safetensors(path, tensors, metadata)
    return rows
