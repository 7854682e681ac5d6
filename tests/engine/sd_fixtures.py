"""One random-weight Stable Diffusion per test session, written to disk in KerasCV's
legacy .h5 format and loaded back through the engine's real loading code."""
from __future__ import annotations

from pathlib import Path

import h5py

SIZE = 128


def write_random_weights(folder: Path, model_id: str = "sd-v1.4", seed: int = 1234) -> dict:
    """Builds the real architecture with seeded random weights and saves every file
    of the model under KerasCV's names; returns a fingerprint of the weights."""
    import keras
    from keras.src.legacy.saving import legacy_h5_format

    from engine.backends.keras_sd import Components
    from engine.backends.placeholder_vocab import write_placeholder_vocabulary
    from engine.models.registry import get_model

    spec = get_model(model_id)
    keras.utils.set_random_seed(seed)
    components = Components(spec, SIZE, SIZE)
    fingerprint = {}
    for role, model in (("text_encoder", components.text_encoder),
                        ("diffusion_model", components.diffusion_model),
                        ("decoder", components.decoder),
                        ("image_encoder", components.image_encoder)):
        with h5py.File(folder / spec.file_for(role).name, "w") as handle:
            legacy_h5_format.save_weights_to_hdf5_group(handle, model)
        fingerprint[role] = weight_fingerprint(model)
    write_placeholder_vocabulary(folder / spec.file_for("vocabulary").name)
    return fingerprint


def weight_fingerprint(model) -> list[float]:
    return [float(w.numpy().astype("float64").sum()) for w in model.weights[:3] + model.weights[-3:]]
