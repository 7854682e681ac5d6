"""A LoRA file, read and recognised: which modules of which model family it changes, and by how much.

A LoRA stores, per module, a low-rank weight change: `down` (rank x in) and `up` (out x
rank), whose product, scaled by alpha / rank, is added to the module's weight (times
the person's multiplier). Convolutions (LyCORIS "LoCon") store down as a (rank, in, kh,
kw) kernel and up as a 1x1 one; kohya's "Tucker" variant puts the kernel in a third
`lora_mid` tensor between two 1x1 ones.

Key forms met in the wild (ComfyUI's comfy/lora.py and A1111's extensions-builtin/Lora
read the same): kohya-ss `lora_unet_<name>.lora_down.weight` / `.lora_up.weight` /
`.alpha` and `lora_te_...` (`lora_te1_` / `lora_te2_`: SDXL's two encoders);
diffusers/PEFT `unet.<path>.lora_A.weight` / `lora_B`, `text_encoder.<path>...`; and
diffusers' older `<path>.lora.down.weight`, `<path>.processor.to_q_lora.down.weight`
and `<path>.lora_linear_layer.down.weight`. Names are resolved by lora_names.

Files come from strangers: only .safetensors is read (a pickled .pt/.ckpt could run
code), its header is checked by SafetensorsFile, and every tensor's shape is checked
against its partners before the file is accepted.
"""
from __future__ import annotations

import json
import math
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from engine.errors import EngineError
from engine.models import families, lora_names
from engine.models.lora_names import TEXT, UNET
from engine.models.safetensors_file import SafetensorsError, SafetensorsFile

SDXL = "sdxl"
_PICKLED_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin")
# A zip archive (torch.save's format) or a bare pickle stream.
_PICKLED_MAGIC = (b"PK\x03\x04", b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")


class LoraProblem(EngineError, ValueError):
    """A LoRA file that cannot be used; the message names the file and what is wrong."""

    def __init__(self, path, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"The LoRA {self.path.name} cannot be used: {problem}.")


@dataclass(frozen=True)
class LoraModule:
    """One module's weight change."""

    target: str  # original-layout module, e.g. "model.diffusion_model.input_blocks.1.1.proj_in"
    network: str  # "unet" or "text"
    part: Optional[int]  # q, k or v (0, 1, 2) of SD 2.x's stacked `attn.in_proj_weight`, else None
    down: np.ndarray = field(repr=False, compare=False)  # as stored in the file
    up: np.ndarray = field(repr=False, compare=False)
    mid: Optional[np.ndarray] = field(repr=False, compare=False)  # a Tucker conv's kernel
    scale: float = field(compare=False)  # alpha / rank

    @property
    def weight_key(self) -> str:
        """The checkpoint tensor this module changes."""
        return lora_names.Target(self.network, self.target, self.part).weight_key

    @property
    def shape(self) -> tuple[int, ...]:
        """The delta's shape (PyTorch layout), without computing it."""
        out, inner = self.up.shape[0], self.down.shape[1]
        kernel = (self.mid if self.mid is not None else self.down).shape[2:]
        return (out, inner) + tuple(kernel)

    def delta(self, multiplier: float = 1.0) -> np.ndarray:
        """The full weight change, float32, PyTorch layout: (out, in) or (out, in, kh, kw).

        Scale and multiplier go into `up` before the product: a pass over the small factor,
        not over the full-size result. The product is laid out in memory as channels-last
        frameworks hold weights ((in, out), (kh, kw, in, out)) and returned as a transposed
        view: the values are PyTorch's, and converting them to Keras's layout is then a
        view of contiguous memory, which halves the time a merge spends adding."""
        up = self.up.astype(np.float32).reshape(self.up.shape[0], -1)  # (out, rank)
        up *= np.float32(self.scale * multiplier)
        down = self.down.astype(np.float32)
        if self.mid is not None:  # up (out, r) . mid (r, r', kh, kw) . down (r', in)
            mid = self.mid.astype(np.float32)
            return np.einsum("or,rskl,si->oikl", up, mid, down.reshape(down.shape[0], -1),
                             optimize=True)
        if down.ndim == 2:
            return (down.T @ up.T).T
        rank, inner, kh, kw = down.shape
        channels_last = down.transpose(2, 3, 1, 0).reshape(kh * kw * inner, rank) @ up.T
        return channels_last.reshape(kh, kw, inner, -1).transpose(3, 2, 0, 1)


@dataclass(frozen=True)
class LoraFile:
    path: Path
    family: Optional[str]  # "sd-v1", "sd-v2", "sdxl"; None when nothing in it tells SD 1.x from 2.x
    modules: tuple[LoraModule, ...] = field(repr=False, compare=False)
    # Size and modification time when read: two reads of an unchanged file compare equal.
    stamp: tuple[int, int] = (0, 0)

    @property
    def name(self) -> str:
        return self.path.stem


# ----------------------------------------------------------------- key forms

# Longest first: "_lora.down.weight" must not be taken for ".lora.down.weight"'s cousin.
_ROLES = (
    (".lora_linear_layer.down.weight", "down"), (".lora_linear_layer.up.weight", "up"),
    (".lora_down.weight", "down"), (".lora_up.weight", "up"), (".lora_mid.weight", "mid"),
    (".lora.down.weight", "down"), (".lora.up.weight", "up"),
    ("_lora.down.weight", "down"), ("_lora.up.weight", "up"),
    (".lora_A.weight", "down"), (".lora_B.weight", "up"),
    (".alpha", "alpha"),
)
# (prefix, network, spelling): kohya's names are underscored, diffusers' dotted.
_PREFIXES = (("lora_unet_", UNET, "kohya"), ("lora_te_", TEXT, "kohya"),
             ("lora_te1_", SDXL, "kohya"), ("lora_te2_", SDXL, "kohya"),
             ("unet.", UNET, "diffusers"), ("text_encoder.", TEXT, "diffusers"),
             ("text_encoder_2.", SDXL, "diffusers"))
_UNET_ROOTS = ("down_blocks.", "mid_block.", "up_blocks.", "conv_in", "conv_out", "time_embedding.")


def _split(key: str) -> Optional[tuple[str, str]]:
    """(module name, role) of a LoRA tensor's key, or None."""
    for suffix, role in _ROLES:
        if key.endswith(suffix):
            return key[:-len(suffix)], role
    return None


def _network(name: str) -> tuple[str, str]:
    """(network, name without its prefix); network "" when it is not one we know."""
    for prefix, network, spelling in _PREFIXES:
        if name.startswith(prefix):
            rest = name[len(prefix):]
            if spelling == "diffusers" and network != SDXL:
                rest = lora_names.normalise_diffusers(network, rest)
            return network, rest
    if name.startswith(_UNET_ROOTS):  # a bare UNet's diffusers file, no `unet.` level
        return UNET, lora_names.normalise_diffusers(UNET, name)
    return "", name


def _refuse_other_kinds(path: Path, keys: list[str]) -> None:
    if any(".hada_" in k or ".lokr_" in k for k in keys):
        raise LoraProblem(path, "it is a LyCORIS LoHa/LoKr file, and LoHa/LoKr files are not "
                                "supported yet (only LoRA and LoCon)")
    if any(k.endswith((".dora_scale", ".lora_magnitude_vector")) for k in keys):
        raise LoraProblem(path, "it is a DoRA file, and DoRA is not supported yet")


# ----------------------------------------------------------------- family

# Layers whose down projection's input is the text encoder's width.
_TEXT_WIDTH_MODULES = ("q_proj", "k_proj", "v_proj", "out_proj", "fc1")
_TEXT_WIDTHS = {768: families.SD1.id, 1024: families.SD2.id, 1280: SDXL}
_CONTEXT_WIDTHS = {families.SD1.context_width: families.SD1.id,
                   families.SD2.context_width: families.SD2.id, 2048: SDXL}


def _family(path: Path, groups: dict[tuple[str, str], dict]) -> Optional[str]:
    if any(network == SDXL for network, _ in groups):
        return SDXL
    found = {}
    for (network, name), tensors in groups.items():
        width = int(tensors["down"].shape[1])
        underscored = name.replace(".", "_")
        if network == TEXT and underscored.endswith(_TEXT_WIDTH_MODULES):
            found.setdefault("text encoder", (width, _TEXT_WIDTHS))
        elif network == UNET and underscored.endswith(("attn2_to_k", "attn2_to_v")):
            found.setdefault("UNet", (width, _CONTEXT_WIDTHS))
    verdicts = {}
    for what, (width, widths) in found.items():
        if width not in widths:
            raise LoraProblem(path, f"its {what} modules read a text context {width} wide, which "
                                    "no Stable Diffusion family has")
        verdicts[what] = widths[width]
    if len(set(verdicts.values())) > 1:
        described = ", ".join(f"its {what} modules are {family}'s" for what, family in verdicts.items())
        raise LoraProblem(path, f"its modules belong to different model families ({described})")
    return next(iter(verdicts.values()), None)


# ----------------------------------------------------------------- shapes and scale

def _scalar(path: Path, key: str, value: np.ndarray) -> float:
    if value.size != 1 or not np.isfinite(value.astype(np.float64)).all():
        raise LoraProblem(path, f"its tensor '{key}' should be one finite number (an alpha) but "
                                f"has shape {tuple(value.shape)}")
    return float(value.reshape(()).astype(np.float64))


def _check_shapes(path: Path, key: str, down: np.ndarray, up: np.ndarray,
                  mid: Optional[np.ndarray]) -> None:
    def bad(why: str):
        return LoraProblem(path, f"the module '{key}' has tensors whose shapes do not fit "
                                 f"(down {tuple(down.shape)}, up {tuple(up.shape)}"
                                 f"{'' if mid is None else f', mid {tuple(mid.shape)}'}: {why})")

    if down.ndim not in (2, 4) or up.ndim != down.ndim:
        raise bad("each must be a matrix or each a convolution kernel")
    rank = down.shape[0]
    if rank == 0 or up.shape[1] != (rank if mid is None else mid.shape[0]):
        raise bad("up's second dimension must be the rank")
    if up.ndim == 4 and up.shape[2:] != (1, 1):
        raise bad("up must be a 1x1 kernel")
    if mid is not None:
        if mid.ndim != 4 or down.ndim != 4 or down.shape[2:] != (1, 1) or mid.shape[1] != rank:
            raise bad("a Tucker module needs 1x1 down and up kernels around a (rank, rank, kh, kw) mid")


class _PeftAlphas:
    """diffusers writes a PEFT file's alphas into its `lora_adapter_metadata` (one
    `lora_alpha` per network, `alpha_pattern` for the exceptions, `use_rslora`); a file
    without them means alpha = rank."""

    def __init__(self, metadata: dict[str, str]):
        try:
            self.config = json.loads(metadata.get("lora_adapter_metadata") or "{}")
        except ValueError:
            self.config = {}
        if not isinstance(self.config, dict):
            self.config = {}

    def scale(self, network: str, module_path: str, rank: int) -> Optional[float]:
        prefix = "unet" if network == UNET else "text_encoder"
        alpha = self.config.get(f"{prefix}.lora_alpha")
        patterns = self.config.get(f"{prefix}.alpha_pattern") or {}
        for pattern, value in (patterns.items() if isinstance(patterns, dict) else ()):
            if module_path == pattern or module_path.endswith("." + pattern):
                alpha = value
        if not isinstance(alpha, (int, float)):
            return None
        root = math.sqrt(rank) if self.config.get(f"{prefix}.use_rslora") else rank
        return float(alpha) / root


# ----------------------------------------------------------------- reading

def _pickled(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(4).startswith(_PICKLED_MAGIC)
    except OSError:
        return False


def _open(path: Path) -> SafetensorsFile:
    pickled = ("it is a pickled PyTorch file, which SD Desk does not open (loading one can run "
               "code hidden in it); use the .safetensors version")
    if path.suffix.lower() in _PICKLED_SUFFIXES:
        raise LoraProblem(path, pickled)
    try:
        return SafetensorsFile(path)
    except SafetensorsError as error:
        if _pickled(path):  # looked at only once the header has failed: a header can start alike
            raise LoraProblem(path, pickled.replace("file,", "file under a .safetensors name,")) from None
        raise LoraProblem(path, f"it is not a readable safetensors file ({error})") from None
    except OSError as error:
        raise LoraProblem(path, f"it cannot be read ({error.strerror or error})") from None


def read_lora(path: Path) -> LoraFile:
    """The file's modules, resolved to original-layout names; LoraProblem for anything
    that keeps it from being applied as it is meant."""
    path = Path(path)
    with _open(path) as reader:
        keys = reader.keys()
        _refuse_other_kinds(path, keys)
        groups: dict[tuple[str, str], dict] = defaultdict(dict)
        names: dict[tuple[str, str], str] = {}
        others = []
        for key in keys:
            split = _split(key)
            if split is None:
                others.append(key)
                continue
            name, role = split
            network, rest = _network(name)
            if not network:
                others.append(key)
                continue
            groups[(network, rest)][role] = key
            names[(network, rest)] = name
        if not groups:
            raise LoraProblem(path, "it holds no LoRA tensors (no '.lora_down' / '.lora_A' weights): "
                                    "it is not a LoRA, or one of a kind SD Desk does not know")
        if others:
            more = f" and {len(others) - 1} more" if len(others) > 1 else ""
            raise LoraProblem(path, f"it holds tensors SD Desk does not know how to apply, such as "
                                    f"'{others[0]}'{more}")
        try:
            tensors = {group: {role: reader.read(key) for role, key in roles.items()}
                       for group, roles in groups.items()}
        except SafetensorsError as error:
            raise LoraProblem(path, f"it is damaged ({error})") from None
        except OSError as error:
            raise LoraProblem(path, f"it cannot be read ({error.strerror or error})") from None
        alphas = _PeftAlphas(reader.metadata)
    for (network, rest), found in tensors.items():
        if "down" not in found or "up" not in found:
            missing = "up" if "down" in found else "down"
            raise LoraProblem(path, f"the module '{names[(network, rest)]}' lacks its {missing} tensor")
    family = _family(path, tensors)
    stat = os.stat(path)
    stamp = (stat.st_size, stat.st_mtime_ns)
    if family == SDXL:  # refused at apply time; its names are not resolved against SD 1.x/2.x
        return LoraFile(path, family, (), stamp)
    modules = [_module(path, network, rest, names[(network, rest)], found, family, alphas)
               for (network, rest), found in tensors.items()]
    return LoraFile(path, family, tuple(modules), stamp)


def _module(path: Path, network: str, rest: str, name: str, found: dict, family: Optional[str],
            alphas: _PeftAlphas) -> LoraModule:
    target = lora_names.resolve(network, rest, family)
    if target is None:
        which = "text encoder" if network == TEXT else "UNet"
        raise LoraProblem(path, f"it changes '{name}', which the {which} of an SD 1.x or 2.x "
                                "model does not have")
    down, up, mid = found["down"], found["up"], found.get("mid")
    _check_shapes(path, name, down, up, mid)
    rank = int(down.shape[0])
    if "alpha" in found:
        scale = _scalar(path, name + ".alpha", found["alpha"]) / rank
    else:
        peft = alphas.scale(network, rest, rank)
        scale = 1.0 if peft is None else peft
    return LoraModule(target.module, network, target.part, down, up, mid, scale)
