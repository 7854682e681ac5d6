"""A checkpoint's networks written under KerasCV's own file names, in KerasCV's .h5 format,
so that KerasCV's classes `load_weights` them (and `generate --weights-dir` runs them)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable, Optional

import h5py

from engine.backends.keras_sd import Components
from engine.errors import EngineError
from engine.locations import find_file, search_dirs
from engine.models.registry import SD_V1_4, SD_V2_1, VOCABULARY, ModelSpec

# The networks' weights are the same at every size; this one builds fastest.
_SIZE = 128


def export_checkpoint(spec: ModelSpec, folder: Path,
                      on_network: Optional[Callable[[str], None]] = None) -> list[Path]:
    from keras.src.legacy.saving import legacy_h5_format

    kerascv = SD_V2_1 if spec.family == "sd-v2" else SD_V1_4
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    components = Components(spec, _SIZE, _SIZE, random_init=False)
    components.load_checkpoint(spec.checkpoint)
    written = []
    for role, model in (("text_encoder", components.text_encoder),
                        ("diffusion_model", components.diffusion_model),
                        ("decoder", components.decoder),
                        ("image_encoder", components.image_encoder)):
        path = folder / kerascv.file_for(role).name
        if on_network:
            on_network(path.name)
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            with h5py.File(tmp, "w") as handle:
                legacy_h5_format.save_weights_to_hdf5_group(handle, model)
            tmp.replace(path)
        except OSError as error:  # a full disk, a read-only folder: no half-written file left
            tmp.unlink(missing_ok=True)
            # h5py's own errors carry the errno but a long message of HDF5's.
            reason = os.strerror(error.errno) if error.errno else str(error)
            raise EngineError(f"Cannot write {path}: {reason}. The files written before it "
                              "are complete; free some space (the export takes 4-5 GB) "
                              "or choose another folder.") from None
        written.append(path)
    vocabulary = find_file(VOCABULARY.name, search_dirs())
    if vocabulary is not None and not (folder / VOCABULARY.name).exists():
        shutil.copyfile(vocabulary, folder / VOCABULARY.name)
        written.append(folder / VOCABULARY.name)
    return written
