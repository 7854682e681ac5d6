"""A LoRA merged into our networks against diffusers merging the same file.

A random-weight SD 1.x checkpoint (the checkpoint tests' own) and a random kohya LoRA
(attention, ff and projections of every transformer, the resnets' and samplers'
convolutions as LoCon, every text-encoder layer; alpha 2 at rank 4, so alpha != rank)
at weight 0.7: our Keras text encoder and UNet after `LoraWeights.apply` against
diffusers' after `load_lora_weights` + `fuse_lora(lora_scale=0.7)`
(tests/reference/diffusers_lora.py), on the same inputs. torch is far too heavy for the
test environment, so this runs only where SD_DESK_REFERENCE_PYTHON names a Python with
torch, diffusers, transformers, peft and safetensors:

    SD_DESK_REFERENCE_PYTHON=/path/to/python pytest tests/engine/test_lora_reference.py -s

It prints the largest and mean relative difference per network without and with the
LoRA (the import's own difference is the baseline the LoRA must not add to), as imported
and with KerasCV's GELU and epsilons put into diffusers, and how far the LoRA moves
each output (what a wrong merge would have to hide in).
"""
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.engine.lora_files import write_lora
from tests.engine.test_checkpoint_reference import (AS_IMPORTED, MATCHED, differences,
                                                     text_and_unet_outputs)

REFERENCE = os.environ.get("SD_DESK_REFERENCE_PYTHON")
SCRIPT = Path(__file__).resolve().parents[1] / "reference" / "diffusers_lora.py"
SIZE, WEIGHT = 64, 0.7

pytestmark = pytest.mark.skipif(
    not REFERENCE, reason="set SD_DESK_REFERENCE_PYTHON to a Python with torch, diffusers, "
                          "transformers, peft and safetensors to compare with diffusers")

# The checkpoint import's bounds and measure: with the LoRA merged, the differences must
# stay what the import alone has. The LoRA moves outputs by far more than either (printed),
# so a misplaced or misscaled module cannot pass.


def test_a_kohya_lora_matches_diffusers(checkpoint_files, tmp_path):
    from engine.backends.keras_sd import Components
    from engine.backends.lora_weights import LoraWeights
    from engine.models.library import Checkpoint
    from engine.models.lora_file import read_lora
    from engine.models.registry import checkpoint_spec

    path = checkpoint_files["sd-v1"]
    lora_path = tmp_path / "locon.safetensors"
    written = write_lora(lora_path, "sd-v1", "kohya", unet_kinds=("attention", "ff", "proj", "conv"),
                         rank=4, alpha=2.0, seed=11, strength=0.5)
    rng = np.random.default_rng(3)
    tokens = np.full((1, 77), 49407, np.int32)
    tokens[0, 0], tokens[0, 1:12] = 49406, rng.integers(300, 40000, 11)
    inputs = {"tokens": tokens, "timestep": np.float32(421.0),
              "latent": rng.standard_normal((1, SIZE // 8, SIZE // 8, 4), np.float32),
              "context": rng.standard_normal((1, 77, 768), np.float32)}
    np.savez(tmp_path / "inputs.npz", **inputs)
    out = tmp_path / "reference.npz"
    done = subprocess.run([REFERENCE, str(SCRIPT), str(path), str(lora_path), str(WEIGHT),
                           str(tmp_path / "inputs.npz"), str(out)],
                          capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    theirs = np.load(out)
    assert int(theirs["modules_loaded"]) == len(written)  # diffusers found a layer for each

    checkpoint = Checkpoint(path.stem, path, "sd-v1", "epsilon", False, path.stat().st_size)
    components = Components(checkpoint_spec(checkpoint), SIZE, SIZE)
    components.load_checkpoint(checkpoint)
    ours = {"base": text_and_unet_outputs(components, inputs)}
    before = [w.numpy() for m in (components.text_encoder, components.diffusion_model) for w in m.weights]
    lora = read_lora(lora_path)
    assert lora.family == "sd-v1" and len(lora.modules) == len(written)
    weights = LoraWeights(components, "sd-v1")
    weights.apply([(lora, WEIGHT, WEIGHT)])
    ours["lora"] = text_and_unet_outputs(components, inputs)
    weights.apply([])
    after = [w.numpy() for m in (components.text_encoder, components.diffusion_model) for w in m.weights]
    # Taking the LoRA off gives back exactly the checkpoint's weights (the UNet's outputs
    # themselves vary in the last bits from one call to the next on oneDNN).
    assert all(np.array_equal(a, b) for a, b in zip(before, after))

    failures = []
    lines = [f"\nsd-v1 with a kohya LoRA ({len(written)} modules, rank 4, alpha 2) at {WEIGHT} "
             "against diffusers (largest / mean relative difference):"]
    for network in ours["base"]:
        moved = differences(theirs[f"lora/{network}"], theirs[f"base/{network}"])
        lines.append(f"  {'what the LoRA changes (diffusers)':<44} {network:<16} "
                     f"{moved[0]:.2e} / {moved[1]:.2e}")
        for matched in (False, True):
            label = "KerasCV's GELU and eps in diffusers" if matched else "as imported"
            bound = MATCHED if matched else AS_IMPORTED
            for state in ("base", "lora"):
                key = f"{'matched_' if matched else ''}{state}/{network}"
                largest, mean = differences(ours[state][network], theirs[key])
                lines.append(f"  {label + (', LoRA' if state == 'lora' else ', no LoRA'):<44} "
                             f"{network:<16} {largest:.2e} / {mean:.2e}")
                assert ours[state][network].shape == theirs[key].shape
                if largest >= bound:
                    failures.append((network, state, matched, largest))
        if moved[0] < 10 * AS_IMPORTED:  # the LoRA must move outputs far more than the bounds
            failures.append((network, "LoRA's own effect too small to tell", moved))
    print("\n".join(lines))
    assert failures == []
