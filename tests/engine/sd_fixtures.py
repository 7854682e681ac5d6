"""One random-weight Stable Diffusion, written to disk in KerasCV's legacy .h5 format and
loaded back through the engine's real loading code; kept in the test cache folder, so a run
after the first (and every xdist worker) reads it instead of building it."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from importlib import metadata
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


def cache_folder() -> Path:
    """Where expensive random-weight files are kept between runs (SD_DESK_TEST_CACHE moves it)."""
    folder = Path(os.environ.get("SD_DESK_TEST_CACHE") or Path.home() / ".cache" / "sd-desk-tests")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def cached_random_weights(model_id: str = "sd-v1.4", seed: int = 1234) -> tuple[Path, dict]:
    """(folder, fingerprint): `write_random_weights`' files, keyed by everything that makes
    them: this writer, the networks' code, Keras, KerasCV and the backend."""
    import keras

    from engine.backends import keras_sd

    recipe = hashlib.sha256(Path(__file__).read_bytes() + Path(keras_sd.__file__).read_bytes()
                            + f"{keras.__version__} {metadata.version('keras-cv')} "
                              f"{keras.backend.backend()} {model_id} {seed}".encode()).hexdigest()[:12]
    folder = cache_folder() / f"kerascv-{model_id}-{recipe}"
    if not (folder / "fingerprint.json").is_file():
        partial = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=folder.parent))
        fingerprint = write_random_weights(partial, model_id, seed)
        (partial / "fingerprint.json").write_text(json.dumps(fingerprint))
        try:
            partial.rename(folder)
        except OSError:  # another run finished first: its files are the same
            shutil.rmtree(partial, ignore_errors=True)
        import gc
        gc.collect()  # the networks just built: gigabytes
    return folder, json.loads((folder / "fingerprint.json").read_text())
