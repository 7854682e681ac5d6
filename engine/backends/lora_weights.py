"""LoRAs merged into built networks, and taken off again.

Merging (weight += multiplier * delta) costs nothing per step, where running the LoRA
beside each layer would cost every step; it is what A1111 and ComfyUI do too. Taking a
LoRA off must not drift: subtracting the delta again would leave float32 rounding
behind, and re-reading the checkpoint would cost seconds. So before a variable is first
changed its original value is kept, and an apply rebuilds from that copy each variable
whose share of the list changed (and only those: changing one LoRA's weight leaves the
others' layers alone): the networks always hold exactly the checkpoint's weights plus the
LoRAs in the current list, whatever came before.

Variables are found through the same plans that import checkpoints
(engine.models.ldm_import), so a LoRA's original-layout module names need no second map,
and deltas are turned into Keras layout by the same rule (`to_keras`). Backend-neutral:
values go through numpy and `variable.assign`.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Sequence

import keras
import numpy as np

from engine.models import families, ldm_import
from engine.models.lora_file import LoraFile, LoraModule, LoraProblem
from engine.models.lora_names import TEXT

FAMILY_LABELS = {families.SD1.id: families.SD1.label, families.SD2.id: families.SD2.label,
                 "sdxl": "SDXL"}


def _label(family_id) -> str:
    return FAMILY_LABELS.get(family_id, str(family_id))


class LoraWeights:
    """The LoRAs applied to one set of built networks (keras_sd.Components), and how to take them off."""

    def __init__(self, components, family_id: str):
        self.components = components
        self.family = families.BY_ID[family_id]
        self._variables: dict[str, dict] = {}  # network -> its plan's variables, by key
        self._originals: dict[tuple, np.ndarray] = {}  # (network, key, part) -> value before any LoRA
        self._merged: dict[tuple, tuple] = {}  # (network, key, part) -> (file, module, weight)s it holds
        self._applied: tuple = ()

    @property
    def applied(self) -> tuple:
        """The (file, text weight, unet weight) list the networks now hold."""
        return self._applied

    @property
    def kept_bytes(self) -> int:
        """Memory held by the kept original values (what taking the LoRAs off needs)."""
        return sum(value.nbytes for value in self._originals.values())

    def _plan(self, network: str) -> dict[tuple[str, object], object]:
        """(weight key, part) -> Keras variable of one network, made on first need."""
        if network not in self._variables:
            if network == TEXT:
                # Key names, not file contents, matter here: SD 1.x files that lack the
                # `text_model.` level fill the same variables, so one prefix serves all.
                prefix = ldm_import.text_prefix(self.family, [self.family.text_prefix + "text_model."])
                plan = ldm_import.text_encoder_plan(self.components.text_encoder, self.family, prefix)
            else:
                plan = ldm_import.unet_plan(self.components.diffusion_model)
            self._variables[network] = {(entry.key, entry.part): entry.variable for entry in plan
                                        if entry.key.endswith("weight")}
        return self._variables[network]

    def _variable(self, lora: LoraFile, module: LoraModule):
        variable = self._plan(module.network).get((module.weight_key, module.part))
        if variable is None:
            raise LoraProblem(lora.path, f"it changes '{module.target}', which this "
                                         f"{self.family.label} model does not have")
        return variable

    @staticmethod
    def _as_keras(module: LoraModule, variable, delta: np.ndarray) -> np.ndarray:
        """The delta as the variable holds it. A q/k/v part's delta is already that one
        projection's (out, in) slice, so it converts like any linear layer's weight."""
        entry = ldm_import.Entry(variable, module.target + ".weight")
        return ldm_import.to_keras(entry, delta, tuple(variable.shape))

    def _check(self, loras: Sequence[tuple[LoraFile, float, float]]) -> None:
        """Everything that could refuse the list, before any weight changes."""
        for lora, text_weight, unet_weight in loras:
            if lora.family is not None and lora.family != self.family.id:
                raise LoraProblem(lora.path, f"it is a LoRA for {_label(lora.family)} models, and the "
                                             f"model in use is {self.family.label}")
            for module in lora.modules:
                variable = self._variable(lora, module)
                # A zero-stride stand-in: the layout rule checks the shape without a delta.
                stand_in = np.broadcast_to(np.float32(0), module.shape)
                try:
                    self._as_keras(module, variable, stand_in)
                except ldm_import.CheckpointMismatch:
                    raise LoraProblem(lora.path, f"its change to '{module.target}' has shape "
                                                 f"{module.shape}, which does not fit this "
                                                 f"{self.family.label} model's weight (a LoRA of "
                                                 "another model family, or a damaged one)") from None

    def apply(self, loras: Sequence[tuple[LoraFile, float, float]]) -> None:
        """(file, text weight, unet weight): the networks end up as the checkpoint's weights
        plus exactly these LoRAs; whatever was applied before is taken off first (from kept
        copies of the original values of the variables it touched, so no rounding drifts and
        the checkpoint is never re-read). The same list twice is a no-op. A LoRA of another
        family, or a module the networks lack, raises LoraProblem before anything changes."""
        loras = tuple((lora, float(text_weight), float(unet_weight))
                      for lora, text_weight, unet_weight in loras)
        if loras == self._applied:
            return
        self._check(loras)
        changes: dict[tuple, list] = defaultdict(list)
        for lora, text_weight, unet_weight in loras:
            for index, module in enumerate(lora.modules):
                weight = text_weight if module.network == TEXT else unet_weight
                if weight != 0:
                    changes[(module.network, module.weight_key, module.part)].append(
                        (lora, index, module, weight))
        for key in [key for key in self._originals if key not in changes]:
            variable = self._plan(key[0])[key[1:]]
            variable.assign(_restored(self._originals.pop(key), variable))  # exactly the original
            del self._merged[key]
        for key, contributions in changes.items():
            merged = tuple((lora, index, weight) for lora, index, _module, weight in contributions)
            if self._merged.get(key) == merged:  # e.g. another LoRA's weight changed, not this
                continue
            variable = self._plan(key[0])[key[1:]]
            if key not in self._originals:
                self._originals[key] = _kept(keras.ops.convert_to_numpy(variable))
            total = self._originals[key].astype(np.float32)  # a copy: the kept value stays intact
            for _lora, _index, module, weight in contributions:  # list order: a reproducible sum
                total += self._as_keras(module, variable, module.delta(weight))
            variable.assign(_restored(total, variable))
            self._merged[key] = merged
        self._applied = loras

    def forget(self) -> None:
        """The networks' weights were replaced from outside (another checkpoint loaded): drop
        the kept copies without writing them back."""
        self._originals.clear()
        self._merged.clear()
        self._applied = ()


def _kept(value: np.ndarray) -> np.ndarray:
    """A variable's value as kept for taking LoRAs off: in float16, half the memory, where
    that holds it exactly (a checkpoint stored in float16 loads into float32 variables
    without a bit float16 lacks), else as it is. A 144 MB LoRA over a float16 checkpoint
    keeps about 0.7 GB instead of 1.3 GB."""
    if value.dtype == np.float32:
        half = value.astype(np.float16)
        if np.array_equal(half.astype(np.float32), value):
            return half
    return value


def _restored(value: np.ndarray, variable) -> np.ndarray:
    return value.astype(keras.backend.standardize_dtype(variable.dtype), copy=False)
