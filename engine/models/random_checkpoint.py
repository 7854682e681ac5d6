"""Checkpoint files in the original (LDM) layout, filled with seeded random values.

No weights can be downloaded where the tests and benchmarks run, so they write the
real format with random numbers: every tensor ldm_layout.py lists, plus what real
files carry besides (the schedule's buffers, an EMA copy, the position ids of SD 1.x,
SD 2.x's unused 24th text layer and projection). Values are scaled like a trained
network's (kernels by 1/sqrt(fan-in), norms near 1) so activations stay finite.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Optional

import numpy as np

from engine.models import families
from engine.models.ldm_layout import LAYOUT
from engine.models.safetensors_file import write_safetensors

NETWORKS = ("text_encoder", "diffusion_model", "vae")


def _value(rng: np.random.Generator, key: str, shape: tuple[int, ...]) -> np.ndarray:
    if key.endswith("bias") or key.endswith(".beta"):
        return rng.standard_normal(shape, np.float32) * np.float32(0.02)
    if len(shape) == 1:  # a norm's scale
        return 1 + rng.standard_normal(shape, np.float32) * np.float32(0.1)
    if "embedding" in key:
        return rng.standard_normal(shape, np.float32) * np.float32(0.02)
    fan_in = int(np.prod(shape[1:]))
    return rng.standard_normal(shape, np.float32) * np.float32(1 / np.sqrt(fan_in))


def random_tensors(family_id: str = "sd-v1", networks: Iterable[str] = NETWORKS, seed: int = 0,
                   dtype: str = "float16", prediction: str = families.EPSILON,
                   prefix_vae: bool = True) -> dict[str, np.ndarray]:
    """The tensors of one file. `prefix_vae` False gives a standalone VAE's names."""
    rng = np.random.default_rng(seed)
    tensors = {}
    for network in networks:
        for key, shape in LAYOUT[family_id][network].items():
            name = key if prefix_vae or network != "vae" else key[len(families.VAE):]
            tensors[name] = _value(rng, key, shape).astype(dtype)
    if family_id == families.SD2.id and "diffusion_model" in networks:
        # What tells a v-prediction SD 2.x file apart (families.V_PROBE): a wider spread.
        spread = 0.3 if prediction == families.V_PREDICTION else 0.02
        probe = tensors[families.V_PROBE]
        tensors[families.V_PROBE] = (rng.standard_normal(probe.shape, np.float32) * spread).astype(dtype)
    return tensors


def extras(family_id: str, seed: int = 0, dtype: str = "float16") -> dict[str, np.ndarray]:
    """Tensors real checkpoints carry that no network of ours reads."""
    rng = np.random.default_rng(seed + 1)
    betas = np.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=np.float32) ** 2
    found = {"betas": betas, "alphas_cumprod": np.cumprod(1 - betas).astype(np.float32),
             "model_ema.decay": np.array(0.9999, np.float32),
             "model_ema.diffusion_modeltime_embed0weight":
                 rng.standard_normal((1280, 320), np.float32).astype(dtype)}
    if family_id == families.SD1.id:
        found["cond_stage_model.transformer.text_model.embeddings.position_ids"] = \
            np.arange(77, dtype=np.int64)[None]
    else:
        for key, shape in LAYOUT[family_id]["text_encoder"].items():
            if ".resblocks.22." in key:
                found[key.replace(".resblocks.22.", ".resblocks.23.")] = _value(rng, key, shape).astype(dtype)
        found["cond_stage_model.model.text_projection"] = \
            (rng.standard_normal((1024, 1024), np.float32) * 0.03).astype(dtype)
    return found


def write_random_checkpoint(path: Path, family_id: str = "sd-v1", seed: int = 0,
                            dtype: str = "float16", prediction: str = families.EPSILON,
                            networks: Iterable[str] = NETWORKS, with_extras: bool = True,
                            drop: Iterable[str] = (), metadata: Optional[dict] = None) -> Path:
    """One checkpoint file; `drop` leaves tensors out (damaged-file tests)."""
    tensors = random_tensors(family_id, tuple(networks), seed, dtype, prediction)
    if with_extras:
        tensors.update(extras(family_id, seed, dtype))
    for key in drop:
        tensors.pop(key, None)
    write_safetensors(path, tensors, metadata)
    return Path(path)


def write_random_vae(path: Path, family_id: str = "sd-v1", seed: int = 7,
                     dtype: str = "float32") -> Path:
    """A standalone VAE file, keys without `first_stage_model.`, as VAE downloads have them."""
    write_safetensors(path, random_tensors(family_id, ("vae",), seed, dtype, prefix_vae=False))
    return Path(path)
