"""A textual-inversion embedding file: the word a person writes and the vectors it stands for.

The forms in circulation (A1111's `modules/textual_inversion/textual_inversion.py` reads
the same ones):
  - A1111 `.pt`: `{"string_to_param": {"*": tensor (n, width)}, "name", "step", ...}`; files
    from the original textual-inversion code hold a torch ParameterDict there instead;
  - diffusers `.bin` (`learned_embeds.bin`): `{token: tensor (width,)}`, one entry;
  - `.safetensors`: `emb_params` (n, width), or SDXL's `clip_l` (n, 768) and
    `clip_g` (n, 1280), or any one tensor.
`.pt` and `.bin` are read by engine/models/torch_zip.py, which runs nothing in them.
The width says which text encoder the vectors feed: 768 SD 1.x (CLIP-L), 1024 SD 2.x
(OpenCLIP-H), and SDXL's pair.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from engine.models.safetensors_file import DTYPES, SafetensorsError, SafetensorsFile
from engine.models.torch_zip import TensorRef, TorchFile, TorchFileError

SUFFIXES = (".pt", ".bin", ".safetensors")
# Which encoder a lone vector of this width feeds, and the family it belongs to.
SINGLE_WIDTHS = {768: ("clip_l", "sd-v1"), 1024: ("clip_h", "sd-v2")}
SDXL_WIDTHS = {"clip_l": 768, "clip_g": 1280}
# A prompt chunk holds 75 tokens; an embedding longer than that cannot be placed in one.
MAX_VECTORS = 75
_LORA_MARKS = ("lora_up", "lora_down", "lora_A", "lora_B", "hada_w1_a", "lokr_w1", "lora_unet_", "lora_te")
_CHECKPOINT_MARKS = ("model.diffusion_model.", "first_stage_model.", "cond_stage_model.",
                     "conditioner.embedders.")


class EmbeddingProblem(ValueError):
    """Why a file cannot be used as an embedding: one sentence naming the file."""


class _NotUsable(ValueError):
    """A reason, without the file's name (read_embedding adds it)."""


@dataclass(frozen=True, eq=False)  # arrays do not compare as booleans: identity is equality
class Embedding:
    name: str  # the file name without its extension: the word written in a prompt
    path: Path
    vectors: dict[str, np.ndarray]  # by text encoder ("clip_l", "clip_h", "clip_g"): (n, width)

    def width_family(self) -> str:
        """"sd-v1" (768 wide), "sd-v2" (1024) or "sdxl" (clip_l and clip_g)."""
        if set(self.vectors) == set(SDXL_WIDTHS):
            return "sdxl"
        (encoder,) = self.vectors
        return next(family for enc, family in SINGLE_WIDTHS.values() if enc == encoder)

    @property
    def count(self) -> int:
        """Vectors per encoder: the token slots the word takes in a prompt."""
        return next(iter(self.vectors.values())).shape[0]


def read_embedding(path: Path) -> Embedding:
    """The embedding in `path`; raises EmbeddingProblem saying what is wrong."""
    path = Path(path)
    if path.suffix.lower() not in SUFFIXES:
        raise EmbeddingProblem(f"{path.name} is not an embedding file: SD Desk reads embeddings "
                               "saved as .pt, .bin or .safetensors.")
    try:
        if path.suffix.lower() == ".safetensors":
            with SafetensorsFile(path) as reader:
                shapes = {key: reader.info(key).shape for key in reader.keys()}
                vectors = _vectors(shapes, reader.read, lambda key: DTYPES[reader.info(key).dtype])
        else:
            with TorchFile(path) as file:
                vectors = _from_torch(file)
    except (SafetensorsError, TorchFileError, _NotUsable) as problem:
        raise EmbeddingProblem(f"{path.name} cannot be used as an embedding: {problem}.") from None
    except OSError as error:
        raise EmbeddingProblem(f"{path.name} cannot be read ({error.strerror or error}).") from None
    return Embedding(path.stem, path, vectors)


def _from_torch(file: TorchFile) -> dict[str, np.ndarray]:
    root = file.root
    if not isinstance(root, dict):
        raise _NotUsable(f"it holds a {_kind(root)}, where an embedding file holds a dict of tensors")
    if "string_to_param" in root:
        params = root["string_to_param"]
        if not isinstance(params, dict) or not params:
            raise _NotUsable("its string_to_param holds no tensor")
        if len(params) > 1:
            raise _NotUsable(f"it holds {len(params)} embeddings in one file, where SD Desk reads "
                             "files of one")
        tensors = {"string_to_param": next(iter(params.values()))}
    elif "state_dict" in root:
        raise _NotUsable("it is a checkpoint (it holds a state_dict), not an embedding")
    else:
        tensors = root
    refs = {key: value for key, value in tensors.items() if isinstance(value, TensorRef)}
    if not refs:
        raise _NotUsable("it holds no tensor")
    shapes = {key: ref.shape for key, ref in refs.items()}
    return _vectors(shapes, lambda key: file.read(refs[key]), lambda key: refs[key].dtype)


def _vectors(shapes: Mapping[str, tuple], read: Callable[[str], np.ndarray],
             dtype_of: Callable[[str], np.dtype]) -> dict[str, np.ndarray]:
    """The vectors by encoder, from tensor names and shapes first (cheap), values last."""
    if set(SDXL_WIDTHS) <= set(shapes):
        pair = {enc: _matrix(shapes[enc], enc) for enc in SDXL_WIDTHS}
        for enc, width in SDXL_WIDTHS.items():
            if pair[enc][1] != width:
                raise _NotUsable(f"its {enc} vectors are {pair[enc][1]} wide, where SDXL's {enc} "
                                 f"takes {width}")
        if pair["clip_l"][0] != pair["clip_g"][0]:
            raise _NotUsable(f"its clip_l holds {pair['clip_l'][0]} vectors but its clip_g "
                             f"{pair['clip_g'][0]}: they must be as many")
        return {enc: _values(lambda: read(enc), pair[enc], dtype_of(enc), enc) for enc in SDXL_WIDTHS}
    if "emb_params" in shapes:
        key = "emb_params"
    elif len(shapes) == 1:
        (key,) = shapes
    else:
        raise _NotUsable(_what_else(list(shapes)))
    shape = _matrix(shapes[key], key)
    if shape[1] not in SINGLE_WIDTHS:
        raise _NotUsable(f"its vectors are {shape[1]} wide; SD Desk reads embeddings 768 wide "
                         "(SD 1.x), 1024 wide (SD 2.x) or SDXL's pair (clip_l 768 and clip_g 1280)")
    encoder = SINGLE_WIDTHS[shape[1]][0]
    return {encoder: _values(lambda: read(key), shape, dtype_of(key), key)}


def _matrix(shape, key: str) -> tuple[int, int]:
    """(vectors, width): a 1-D tensor is one vector."""
    shape = tuple(int(n) for n in shape)
    if len(shape) == 1:
        shape = (1, shape[0])
    if len(shape) != 2:
        raise _NotUsable(f"its tensor {key!r} has shape {list(shape)}, where an embedding "
                         "holds (vectors, width)")
    if shape[0] == 0:
        raise _NotUsable("it holds no vectors")
    if shape[0] > MAX_VECTORS:
        raise _NotUsable(f"it holds {shape[0]} vectors, more than the {MAX_VECTORS} a prompt "
                         "chunk can take")
    return shape


def _values(read: Callable[[], np.ndarray], shape: tuple[int, int], dtype: np.dtype,
            key: str) -> np.ndarray:
    # ml_dtypes' bfloat16 and float8 are not numpy floating kinds, but they are floats.
    if dtype.kind != "f" and not dtype.name.startswith(("bfloat16", "float8")):
        raise _NotUsable(f"its tensor {key!r} holds {dtype.name} values, not vectors")
    out = np.asarray(read(), np.float32).reshape(shape)
    if not np.isfinite(out).all():
        raise _NotUsable(f"its tensor {key!r} holds NaN or infinite values (a damaged or "
                         "badly trained file)")
    out.setflags(write=False)
    return out


def _what_else(keys: list) -> str:
    """What a file of several tensors is, for the sentence that refuses it."""
    keys = [str(key) for key in keys]
    if any(mark in key for key in keys for mark in _LORA_MARKS):
        return "it is a LoRA, not an embedding (put it in the LoRA folder)"
    if any(key.startswith(_CHECKPOINT_MARKS) for key in keys):
        return "it is a checkpoint or part of one, not an embedding"
    return (f"it holds {len(keys)} tensors ({', '.join(repr(k) for k in keys[:3])}"
            f"{', ...' if len(keys) > 3 else ''}), where an embedding holds one (or SDXL's "
            "clip_l and clip_g)")


def _kind(value) -> str:
    return "tensor" if isinstance(value, TensorRef) else type(value).__name__
