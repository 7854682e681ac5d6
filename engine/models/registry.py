"""Which models exist: the built-in ones (engine/models/builtin.py) and the checkpoints of
the person's library (engine/models/library.py), looked up by one name."""
from __future__ import annotations

from dataclasses import replace

from engine.models.builtin import (  # noqa: F401 (the names every caller imports from here)
    BUILT_IN_IDS, DECODER, DEMO, IMAGE_ENCODER, SD_V1_4, SD_V1_5, SD_V2_1,
    STABLE_DIFFUSION_MODELS, VOCABULARY, ModelSpec, WeightFile, _BY_ID)
from engine.models.library import library

# A checkpoint's models are ready without it: the engine fetches it at the first generation.
_FETCHED_VOCABULARY = replace(VOCABULARY, only_for="the first generation")


def checkpoint_spec(checkpoint) -> ModelSpec:
    """A library checkpoint as a model: its networks come from the file, and only CLIP's
    vocabulary (which checkpoints do not carry) is needed beside it."""
    return ModelSpec(id=checkpoint.name, label=checkpoint.name, family=checkpoint.family,
                     files=(_FETCHED_VOCABULARY,), description=str(checkpoint.path),
                     checkpoint=checkpoint)


def get_model(model_id: str) -> ModelSpec:
    """A built-in model by id, or a checkpoint of the library by name (or short hash)."""
    if isinstance(model_id, str) and model_id in _BY_ID:
        return _BY_ID[model_id]
    if isinstance(model_id, str) and model_id:
        found = library().find(model_id)
        if found is not None:
            if not found.usable:
                raise KeyError(f"The checkpoint {found.name} ({found.path}) cannot be used: "
                               f"{found.problem}.")
            return checkpoint_spec(found)
    known = ", ".join(all_model_ids())
    if not model_id:
        raise KeyError(f"No model named; choose one of: {known}.") from None
    raise KeyError(f"Unknown model {model_id!r}; choose one of: {known}.") from None


def all_model_ids() -> list[str]:
    return [m.id for m in all_models()]


def all_models() -> list[ModelSpec]:
    return [*_BY_ID.values(), *(checkpoint_spec(c) for c in library().usable())]
