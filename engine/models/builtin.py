"""The models SD Desk knows by itself, and which files each one needs.

File names, origins and sha256 are KerasCV 0.9.0's own (the `keras.utils.get_file`
calls in keras_cv/src/models/stable_diffusion), so files a person already fetched
through KerasCV are found under the same names. Sizes are approximate (KerasCV
does not publish them); they serve the free-space check and the UI, never the
integrity check, which is sha256 alone.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

_HF_V1 = "https://huggingface.co/fchollet/stable-diffusion/resolve/main/"
_HF_V2 = "https://huggingface.co/ianstenbit/keras-sd2.1/resolve/main/"


@dataclass(frozen=True)
class WeightFile:
    name: str
    role: str  # "text_encoder", "diffusion_model", "decoder", "image_encoder", "vocabulary", or
    # "checkpoint": one original-layout file holding every network
    url: str
    sha256: str
    approx_size: int
    # What needs the file when not every generation does ("image to image"): a model
    # without it is still installed, for text to image.
    only_for: str = ""

    @property
    def required(self) -> bool:
        return not self.only_for


@dataclass(frozen=True)
class ModelSpec:
    id: str
    label: str
    family: str  # "sd-v1", "sd-v2" or "demo"
    files: tuple[WeightFile, ...]
    description: str = ""
    # A checkpoint file from the person's library (engine.models.library.Checkpoint),
    # whose networks come from that one file rather than from KerasCV's .h5 files.
    checkpoint: Optional[object] = None

    @property
    def is_single_file(self) -> bool:
        """All networks in one original-layout checkpoint (its VAE's encoder included)."""
        return self.checkpoint is not None or any(f.role == "checkpoint" for f in self.files)

    @property
    def prediction(self) -> str:
        """What the UNet predicts: "epsilon" (KerasCV's models) or "v"."""
        return self.checkpoint.prediction if self.checkpoint is not None else "epsilon"

    def file_for(self, role: str) -> WeightFile:
        for f in self.files:
            if f.role == role:
                return f
        raise KeyError(f"{self.id} has no {role} file")

    @property
    def approx_size(self) -> int:
        return sum(f.approx_size for f in self.files)


VOCABULARY = WeightFile(
    "bpe_simple_vocab_16e6.txt.gz", "vocabulary",
    "https://github.com/openai/CLIP/blob/main/clip/bpe_simple_vocab_16e6.txt.gz?raw=true",
    "924691ac288e54409236115652ad4aa250f48203de50a9e4722a6ecd48d6804a",
    1_360_000,
)
DECODER = WeightFile(
    "kcv_decoder.h5", "decoder", _HF_V1 + "kcv_decoder.h5",
    "ad350a65cc8bc4a80c8103367e039a3329b4231c2469a1093869a345f55b1962",
    198_000_000,
)
# KerasCV's StableDiffusion and StableDiffusionV2 both take this encoder (image_encoder.py).
IMAGE_ENCODER = WeightFile(
    "vae_encoder.h5", "image_encoder", _HF_V1 + "vae_encoder.h5",
    "c60fb220a40d090e0f86a6ab4c312d113e115c87c40ff75d11ffcf380aab7ebb",
    137_000_000, only_for="image to image",
)

SD_V1_4 = ModelSpec(
    id="sd-v1.4",
    label="Stable Diffusion 1.4",
    family="sd-v1",
    files=(
        WeightFile(
            "kcv_encoder.h5", "text_encoder", _HF_V1 + "kcv_encoder.h5",
            "4789e63e07c0e54d6a34a29b45ce81ece27060c499a709d556c7755b42bb0dc4",
            492_000_000,
        ),
        WeightFile(
            "kcv_diffusion_model.h5", "diffusion_model", _HF_V1 + "kcv_diffusion_model.h5",
            "8799ff9763de13d7f30a683d653018e114ed24a6a819667da4f5ee10f9e805fe",
            3_440_000_000,
        ),
        DECODER,
        VOCABULARY,
        IMAGE_ENCODER,
    ),
    description="KerasCV's port of CompVis Stable Diffusion v1.4 (CreativeML Open RAIL-M).",
)

SD_V2_1 = ModelSpec(
    id="sd-v2.1",
    label="Stable Diffusion 2.1",
    family="sd-v2",
    files=(
        WeightFile(
            "text_encoder_v2_1.h5", "text_encoder", _HF_V2 + "text_encoder_v2_1.h5",
            "985002e68704e1c5c3549de332218e99c5b9b745db7171d5f31fcd9a6089f25b",
            1_360_000_000,
        ),
        WeightFile(
            "diffusion_model_v2_1.h5", "diffusion_model", _HF_V2 + "diffusion_model_v2_1.h5",
            "c31730e91111f98fe0e2dbde4475d381b5287ebb9672b1821796146a25c5132d",
            3_460_000_000,
        ),
        DECODER,
        VOCABULARY,
        IMAGE_ENCODER,
    ),
    description="KerasCV's port of Stability AI Stable Diffusion v2.1 (CreativeML Open RAIL++-M).",
)

# The community's base model, as a single original-layout file (model sites' "SD 1.5"). Its
# sha256 is the one A1111 and model sites know it by (short hash 6ce0161689).
SD_V1_5 = ModelSpec(
    id="sd-v1.5",
    label="Stable Diffusion 1.5",
    family="sd-v1",
    files=(
        WeightFile(
            "v1-5-pruned-emaonly.safetensors", "checkpoint",
            "https://huggingface.co/stable-diffusion-v1-5/stable-diffusion-v1-5/resolve/main/"
            "v1-5-pruned-emaonly.safetensors",
            "6ce0161689b3853acaa03779ec93eafe75a02f4ced659bee03f50797806fa2fa",
            4_265_146_304,
        ),
        VOCABULARY,
    ),
    description="Stable Diffusion v1.5 (CreativeML Open RAIL-M), the base of most SD 1.x fine-tunes.",
)

DEMO = ModelSpec(
    id="demo",
    label="Demo (built-in)",
    family="demo",
    files=(),  # its weights ship inside the app, under resources/demo
    description=(
        "A tiny model trained by the SD Desk team on synthetic pictures of circles, squares "
        "and triangles in eight colours. It ships with the app and needs no download; it "
        "only knows words like \"a small red circle on the left, blue background\"."
    ),
)

STABLE_DIFFUSION_MODELS = (SD_V1_4, SD_V1_5, SD_V2_1)
_BY_ID = {m.id: m for m in (*STABLE_DIFFUSION_MODELS, DEMO)}
BUILT_IN_IDS = tuple(_BY_ID)
