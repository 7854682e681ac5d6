"""What a model file is, told from its tensor names and shapes alone (its header).

Model families are data: each row says how to recognise a file and, for the ones we
run, which KerasCV networks it fills. Files we cannot run yet (SDXL, SD 3, Flux,
inpainting UNets) and files that are not checkpoints at all (a LoRA, an embedding,
a VAE) are recognised too, so a person hears what the file is instead of a crash.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Optional, Sequence

import numpy as np

UNET = "model.diffusion_model."
VAE = "first_stage_model."
SD1_TEXT = "cond_stage_model.transformer."
SD2_TEXT = "cond_stage_model.model."

EPSILON, V_PREDICTION = "epsilon", "v"
PREDICTIONS = (EPSILON, V_PREDICTION)

# Shapes by tensor name: all that recognition looks at.
Shapes = Mapping[str, Sequence[int]]


@dataclass(frozen=True)
class Family:
    id: str  # what ModelSpec.family says: "sd-v1", "sd-v2"
    label: str
    context_width: int  # attn2.to_k's input width: the text encoder's width
    text_prefix: str
    # The largest side it draws well in one pass (its training size, with some room):
    # above it, subjects repeat and hires fix is the cure (engine/hires/advice.py).
    one_pass_side: int = 0


SD1 = Family("sd-v1", "SD 1.x", 768, SD1_TEXT, one_pass_side=768)
SD2 = Family("sd-v2", "SD 2.x", 1024, SD2_TEXT, one_pass_side=1024)
RUNNABLE = (SD1, SD2)
BY_ID = {f.id: f for f in RUNNABLE}


class NotACheckpoint(ValueError):
    """The file is something we recognise but cannot use as a checkpoint; the message says what."""


@dataclass(frozen=True)
class _Refusal:
    test: Callable[[Shapes], bool]
    message: str


def _any_key(*needles: str) -> Callable[[Shapes], bool]:
    return lambda shapes: any(needle in key for key in shapes for needle in needles)


def _starts(*prefixes: str) -> Callable[[Shapes], bool]:
    return lambda shapes: any(key.startswith(prefixes) for key in shapes)


def _in_channels(shapes: Shapes) -> Optional[int]:
    shape = shapes.get(UNET + "input_blocks.0.0.weight")
    return int(shape[1]) if shape is not None and len(shape) == 4 else None


# First match wins: the more specific kinds first.
_REFUSALS = (
    _Refusal(_any_key("lora_up.", "lora_down.", "lora_A.", "lora_B.", "hada_w1_a", "lokr_w1"),
             "it is a LoRA, not a checkpoint: put it in the LoRA folder and write "
             "<lora:NAME:WEIGHT> in the prompt"),
    _Refusal(lambda s: bool({"emb_params", "string_to_param", "clip_l", "clip_g"} & set(s)),
             "it is a textual-inversion embedding, not a checkpoint: put it in the embeddings "
             "folder and write its name in the prompt"),
    _Refusal(_starts("conditioner.embedders."),
             "it is an SDXL checkpoint: SDXL is not supported yet (it is planned)"),
    _Refusal(_any_key("joint_blocks.0.", "x_embedder.proj"),
             "it is a Stable Diffusion 3 checkpoint, which SD Desk does not run"),
    _Refusal(_any_key("double_blocks.0.img_attn", "single_blocks.0.linear1"),
             "it is a Flux model, which SD Desk does not run"),
    _Refusal(lambda s: _in_channels(s) == 9,
             "it is an inpainting checkpoint (a UNet with 9 input channels), "
             "which SD Desk does not run yet; use an ordinary checkpoint with a mask instead"),
)


def is_vae(shapes: Shapes) -> bool:
    """A standalone VAE: the autoencoder's tensors with no prefix (or under first_stage_model.
    in a file with nothing else)."""
    return ("decoder.conv_in.weight" in shapes and "encoder.conv_in.weight" in shapes) or (
        VAE + "decoder.conv_in.weight" in shapes and not any(k.startswith(UNET) for k in shapes))


def recognise(shapes: Shapes) -> Family:
    """The runnable family of a checkpoint, or NotACheckpoint saying what the file is."""
    for refusal in _REFUSALS:
        if refusal.test(shapes):
            raise NotACheckpoint(refusal.message)
    if is_vae(shapes):
        raise NotACheckpoint("it is a VAE on its own, not a checkpoint: choose it as a "
                             "model's VAE instead")
    width = shapes.get(UNET + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight")
    if width is None:
        if not any(key.startswith(UNET) for key in shapes):
            raise NotACheckpoint("it holds no Stable Diffusion UNet (no tensor named "
                                 f"'{UNET}...'): it is not a checkpoint SD Desk knows")
        raise NotACheckpoint("its UNet lacks the tensors an SD 1.x or 2.x UNet has")
    for family in RUNNABLE:
        if int(width[-1]) == family.context_width:
            return family
    raise NotACheckpoint(f"its UNet reads a text context {int(width[-1])} wide, which no "
                         "family SD Desk runs has (SD 1.x: 768, SD 2.x: 1024)")


# ComfyUI's rule of thumb for SD 2.x: v-prediction fine-tunes leave this norm's bias with
# a spread above 0.09; epsilon ones stay below. No file carries a reliable flag.
V_PROBE = UNET + "output_blocks.11.1.transformer_blocks.0.norm1.bias"
V_PROBE_THRESHOLD = 0.09


def guess_prediction(family: Family, read: Callable[[str], np.ndarray], keys) -> str:
    """epsilon or v, as well as a file lets us tell; the person can override it."""
    if family is not SD2 or V_PROBE not in keys:
        return EPSILON
    spread = float(np.std(read(V_PROBE).astype(np.float64)))
    return V_PREDICTION if spread > V_PROBE_THRESHOLD else EPSILON
