"""A model's networks as Keras models, for scripts: `engine.open_model(name_or_path)`.

    import engine
    model = engine.open_model("dreamshaper_8")            # a name `models` lists
    model = engine.open_model("/models/v1-5.safetensors")  # or any checkpoint file
    context = model.text_encoders[0].predict_on_batch({"tokens": t, "positions": p})

For SD 1.x and 2.x these are KerasCV's own classes (TextEncoder / TextEncoderV2,
DiffusionModel / DiffusionModelV2, Decoder, ImageEncoder) holding the file's weights,
called as KerasCV calls them. The UNet and decoder are built for one image size
(512x512 unless asked); their weights serve every size.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Union

from engine.models import registry
from engine.models.library import Checkpoint, LibraryError, describe, library


@dataclass
class OpenedModel:
    name: str
    family: str  # "sd-v1" or "sd-v2"
    prediction: str  # "epsilon" or "v": what `diffusion_model` predicts
    components: object  # engine.backends.keras_sd.Components

    @property
    def text_encoders(self) -> list:
        return [self.components.text_encoder]

    @property
    def diffusion_model(self):
        return self.components.diffusion_model

    @property
    def decoder(self):
        return self.components.decoder

    @property
    def image_encoder(self):
        """Built on first use (only image to image needs it)."""
        return self.components.image_encoder


def _spec(name_or_path: Union[str, Path]) -> registry.ModelSpec:
    text = str(name_or_path)
    try:
        return registry.get_model(text)
    except KeyError as unknown:
        path = Path(text).expanduser()
        if not path.is_file():
            raise LibraryError(str(unknown.args[0])) from None
    family, prediction, problem = describe(path)
    if problem:
        raise LibraryError(f"{path.name} cannot be opened: {problem}.")
    entry = library().find(str(path)) or Checkpoint(path.stem, path.absolute(), family, prediction,
                                                    False, path.stat().st_size)
    return registry.checkpoint_spec(entry)


def open_model(name_or_path: Union[str, Path], width: int = 512, height: int = 512) -> OpenedModel:
    """Builds the networks of a library model or a checkpoint file and loads its weights.
    KerasCV's own models (sd-v1.4, sd-v2.1) need their files installed."""
    from engine.backends.keras_sd import Components
    from engine.models.status import require_installed

    spec = _spec(name_or_path)
    if spec.family == "demo":
        raise LibraryError("The demo model is not a Stable Diffusion model: it has no such networks.")
    components = Components(spec, width, height, random_init=False)
    if spec.checkpoint is not None:
        components.load_checkpoint(spec.checkpoint)
    else:
        paths = require_installed(spec, verify=False)
        components.load({role: path for role, path in paths.items() if role != "vocabulary"})
    return OpenedModel(spec.id, spec.family, spec.prediction, components)
