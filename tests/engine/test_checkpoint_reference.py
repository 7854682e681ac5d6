"""Each network of an imported checkpoint against an independent implementation.

diffusers and transformers (PyTorch) run the same random-weight original-layout file on
the same inputs, with diffusers' own converters deciding what each tensor is
(tests/reference/diffusers_ldm.py). torch is far too heavy for the test environment,
so this runs only where SD_DESK_REFERENCE_PYTHON names a Python that has torch,
diffusers, transformers and safetensors:

    SD_DESK_REFERENCE_PYTHON=/path/to/python pytest tests/engine/test_checkpoint_reference.py -s

It prints the largest and mean relative difference per network, as imported and with
diffusers switched to KerasCV's tanh GELU and GroupNorm epsilon.
"""
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

REFERENCE = os.environ.get("SD_DESK_REFERENCE_PYTHON")
SCRIPT = Path(__file__).resolve().parents[1] / "reference" / "diffusers_ldm.py"
SIZE = 64

pytestmark = pytest.mark.skipif(
    not REFERENCE, reason="set SD_DESK_REFERENCE_PYTHON to a Python with torch, diffusers, "
                          "transformers and safetensors to compare with diffusers")

# Bounds for a correct import: KerasCV's tanh GELU and GroupNorm epsilons alone move
# outputs by around 1e-3 at most; one swapped q/k projection moves them by 3e-2 or more.
AS_IMPORTED, MATCHED = 1e-2, 1e-4


def differences(ours: np.ndarray, theirs: np.ndarray) -> tuple[float, float]:
    """(largest |difference| / largest |reference|, mean |difference| / mean |reference|)."""
    diff = np.abs(ours.astype(np.float64) - theirs.astype(np.float64))
    scale = np.abs(theirs.astype(np.float64))
    return float(diff.max() / scale.max()), float(diff.mean() / scale.mean())


def keras_outputs(path: Path, family: str, inputs: dict) -> dict:
    from engine.backends.keras_sd import Components
    from engine.models.library import describe, Checkpoint
    from engine.models.registry import checkpoint_spec

    family_id, prediction, problem = describe(path)
    assert (family_id, problem) == (family, "")
    checkpoint = Checkpoint(path.stem, path, family, prediction, False, path.stat().st_size)
    components = Components(checkpoint_spec(checkpoint), SIZE, SIZE)
    components.load_checkpoint(checkpoint)
    return {**text_and_unet_outputs(components, inputs),
            "decoder": np.asarray(components.decoder.predict_on_batch(inputs["decoder_latent"])),
            "image_encoder": np.asarray(components.image_encoder.predict_on_batch(inputs["image"]))}


def text_and_unet_outputs(components, inputs: dict) -> dict:
    """The text encoder's and the UNet's outputs on the reference script's inputs."""
    from engine.backends.keras_sd import timestep_embedding
    positions = np.arange(77, dtype=np.int32)[None]
    return {
        "text_encoder": np.asarray(components.text_encoder.predict_on_batch(
            {"tokens": inputs["tokens"], "positions": positions})),
        "diffusion_model": np.asarray(components.diffusion_model.predict_on_batch({
            "latent": inputs["latent"], "timestep_embedding": timestep_embedding(float(inputs["timestep"])),
            "context": inputs["context"]})),
    }


@pytest.mark.parametrize("family", ["sd-v1", "sd-v2"])
def test_every_network_matches_diffusers(family, checkpoint_files, tmp_path):
    rng = np.random.default_rng(3)
    tokens = np.full((1, 77), 49407, np.int32)
    tokens[0, 0], tokens[0, 1:12] = 49406, rng.integers(300, 40000, 11)
    width = 1024 if family == "sd-v2" else 768
    inputs = {"tokens": tokens, "timestep": np.float32(421.0),
              "latent": rng.standard_normal((1, SIZE // 8, SIZE // 8, 4), np.float32),
              "context": rng.standard_normal((1, 77, width), np.float32),
              "decoder_latent": rng.standard_normal((1, SIZE // 8, SIZE // 8, 4), np.float32) * 0.5,
              "image": rng.uniform(-1, 1, (1, SIZE, SIZE, 3)).astype(np.float32)}
    np.savez(tmp_path / "inputs.npz", **inputs)
    ours = keras_outputs(checkpoint_files[family], family, inputs)
    lines = [f"\n{family} against diffusers (largest / mean relative difference):"]
    for matched in (False, True):
        out = tmp_path / f"reference-{matched}.npz"
        args = [REFERENCE, str(SCRIPT), str(checkpoint_files[family]), family,
                str(tmp_path / "inputs.npz"), str(out)] + (["--match-kerascv"] if matched else [])
        done = subprocess.run(args, capture_output=True, text=True, timeout=1800)
        assert done.returncode == 0, done.stderr[-3000:]
        theirs = np.load(out)
        label = "KerasCV's GELU and epsilons in diffusers" if matched else "as imported"
        for network in ours:
            largest, mean = differences(ours[network], theirs[network])
            lines.append(f"  {label:<42} {network:<16} {largest:.2e} / {mean:.2e}")
            assert ours[network].shape == theirs[network].shape
            assert largest < (MATCHED if matched else AS_IMPORTED), (network, matched, largest)
    print("\n".join(lines))
