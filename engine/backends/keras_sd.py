"""Stable Diffusion 1.x / 2.x on KerasCV's components (KerasCV's own weights or a checkpoint's), behind the backend protocol."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Optional, Sequence

import keras
import numpy as np
import psutil

from engine import compute, schedule
from engine.backends.kerascv_modules import load
from engine.backends import tiled_vae
from engine.backends.base import same_length
from engine.backends.built_for_loading import built_for_loading
from engine.backends.lora_weights import LoraWeights
from engine.backends.prompt_encoding import PromptEncoder, TextOptions
from engine.kerascv_files import constants
from engine.models.registry import ModelSpec
from engine.request import MAX_TOKENS  # KerasCV's context length, stated once

SimpleTokenizer = load("clip_tokenizer").SimpleTokenizer
Decoder = load("decoder").Decoder
DiffusionModel, DiffusionModelV2 = load("diffusion_model").DiffusionModel, load("diffusion_model").DiffusionModelV2
TextEncoder, TextEncoderV2 = load("text_encoder").TextEncoder, load("text_encoder").TextEncoderV2
ImageEncoder = load("image_encoder").ImageEncoder
_UNCONDITIONAL_TOKENS = constants()._UNCONDITIONAL_TOKENS

LATENT_CHANNELS = 4

# A fixed linear map from SD's 4 latent channels to RGB (a widely used
# approximation of the VAE decoder): cheap enough to run every step.
_LATENT_TO_RGB = np.array([
    [0.298, 0.207, 0.208],
    [0.187, 0.286, 0.173],
    [-0.158, 0.189, 0.264],
    [-0.184, -0.271, -0.473],
], dtype=np.float32)


def pair_extra_bytes(batch: int, height: int, width: int) -> float:
    """What running guidance's two diffusion calls at once adds to peak memory,
    over running them in turn: fitted to 0.16 GB at 256x256 and 1.3 GB at
    512x512 (batch 1, float32, SD 1.4; 0.27 GB at 256x256 batch 2), rounded up."""
    return 1.4e9 * batch * (height * width / 512 ** 2) ** 1.5


def _pair_fits(batch: int, height: int, width: int) -> bool:
    # Twice the estimate free: room for the estimate's error and for everything else.
    return psutil.virtual_memory().available > 2 * pair_extra_bytes(batch, height, width)


def load_tokenizer(vocabulary: Path) -> SimpleTokenizer:
    return SimpleTokenizer(bpe_path=str(vocabulary))


def timestep_embedding(timestep: float, dim: int = 320, max_period: int = 10000) -> np.ndarray:
    """KerasCV's sinusoidal embedding, computed with the same float32 ops; it takes
    fractional timesteps as they are."""
    half = dim // 2
    freqs = keras.ops.exp(-math.log(max_period) * keras.ops.cast(keras.ops.arange(0, half), "float32") / half)
    args = keras.ops.convert_to_tensor([timestep], dtype="float32") * freqs
    embedding = keras.ops.concatenate([keras.ops.cos(args), keras.ops.sin(args)], 0)
    return keras.ops.convert_to_numpy(keras.ops.reshape(embedding, [1, -1]))


class Components:
    """The three networks of one model at one size and precision."""

    def __init__(self, spec: ModelSpec, width: int, height: int, random_init: bool = True):
        """`random_init` False: the weights come from files next (`load`, `load_checkpoint`,
        `copy_from`), so the networks are built without random values (built_for_loading)."""
        v2 = spec.family == "sd-v2"
        build = (lambda make: make()) if random_init else built_for_loading
        self.text_encoder = build(lambda: (TextEncoderV2 if v2 else TextEncoder)(
            MAX_TOKENS, download_weights=False))
        self.diffusion_model = build(lambda: (DiffusionModelV2 if v2 else DiffusionModel)(
            height, width, MAX_TOKENS, download_weights=False))
        _accept_longer_context(self.diffusion_model)
        self.decoder = build(lambda: Decoder(height, width, download_weights=False))
        # Built on first use: only image to image needs it (and its file is optional).
        self._image_encoder: Optional[keras.Model] = None
        self.image_encoder_file: Optional[Path] = None
        self.checkpoint = None  # the library checkpoint the weights came from, if one did
        self.random = True  # until `load`: untrained networks (tests, benchmarks)
        self.loras = LoraWeights(self, spec.family)  # none applied yet
        # Decoders for tiles (engine/backends/tiled_vae.py), by latent (h, w): KerasCV's
        # decoder is built for one size; each tile size is built once and takes its weights.
        self._tile_decoders: dict[tuple[int, int], keras.Model] = {}

    def decoder_for(self, latent_height: int, latent_width: int) -> keras.Model:
        """The decoder with this model's weights, built for latents of this size."""
        own = tuple(self.decoder.inputs[0].shape[1:3])
        if (latent_height, latent_width) == own:
            return self.decoder
        key = (latent_height, latent_width)
        if key not in self._tile_decoders:
            decoder = built_for_loading(lambda: Decoder(latent_height * 8, latent_width * 8,
                                                        download_weights=False))
            decoder.set_weights(self.decoder.get_weights())
            self._tile_decoders[key] = decoder
        return self._tile_decoders[key]

    def load(self, paths: dict[str, Path]) -> None:
        self.loras.forget()
        self.text_encoder.load_weights(str(paths["text_encoder"]))
        self.diffusion_model.load_weights(str(paths["diffusion_model"]))
        self.decoder.load_weights(str(paths["decoder"]))
        self._tile_decoders.clear()
        self.image_encoder_file = paths.get("image_encoder")
        self.checkpoint, self._image_encoder = None, None
        self.random = False

    def load_checkpoint(self, checkpoint) -> None:
        """Weights from an original-layout checkpoint (engine.models.library.Checkpoint); the
        networks may already hold another checkpoint's: only the weights change."""
        from engine.backends.checkpoint_weights import load_checkpoint
        # Off first: a failed load leaves the weights as they were, which must not be
        # the last request's LoRAs with no record of them.
        self.loras.apply(())
        load_checkpoint(self, checkpoint)
        self._tile_decoders.clear()
        self.checkpoint, self.image_encoder_file, self._image_encoder = checkpoint, None, None
        self.random = False

    @property
    def image_encoder(self) -> keras.Model:
        """KerasCV's VAE encoder, fully convolutional: one serves every size. Raises
        FileNotFoundError when trained weights are in use but its file is absent."""
        if self._image_encoder is None:
            if not self.random and self.image_encoder_file is None and self.checkpoint is None:
                raise FileNotFoundError("vae_encoder.h5")
            encoder = (ImageEncoder(download_weights=False) if self.random
                       else built_for_loading(lambda: ImageEncoder(download_weights=False)))
            if self.checkpoint is not None:  # a checkpoint carries its VAE's encoder
                from engine.backends.checkpoint_weights import load_image_encoder
                load_image_encoder(encoder, self.checkpoint)
            elif self.image_encoder_file is not None:
                encoder.load_weights(str(self.image_encoder_file))
            self._image_encoder = encoder
        return self._image_encoder

    def copy_from(self, other: "Components") -> None:
        """Building a new size from weights in memory beats re-reading 4 GB from disk."""
        other.loras.apply(())  # the checkpoint's own weights; this model's LoRAs come after
        self.loras.forget()
        for mine, theirs in ((self.text_encoder, other.text_encoder),
                             (self.diffusion_model, other.diffusion_model),
                             (self.decoder, other.decoder)):
            mine.set_weights(theirs.get_weights())
        self._image_encoder, self.image_encoder_file = other._image_encoder, other.image_encoder_file
        self.checkpoint, self.random = other.checkpoint, other.random

    def compile_xla(self, on: bool = True) -> None:
        """Always explicit: an uncompiled Keras model picks XLA by itself on a GPU,
        which would make the "standard" configuration secretly XLA there."""
        for model in (self.text_encoder, self.diffusion_model, self.decoder):
            model.compile(jit_compile=on)


def _accept_longer_context(unet: keras.Model) -> None:
    """Lets the UNet take a context of any number of tokens (77 per prompt chunk).

    KerasCV builds it for 77, but nothing in it depends on that number: its cross
    attention reads the context's length from the tensor it is given, and softmax runs
    over however many keys there are. Only the model's input check refuses, so the
    check is widened; each new length costs one trace of the compiled call, no rebuild."""
    specs = []
    for spec in unet.input_spec:
        if spec.name == "context":
            spec = keras.layers.InputSpec(shape=(None, None, spec.shape[-1]), name=spec.name,
                                          allow_last_axis_squeeze=True)
        specs.append(spec)
    unet.input_spec = specs


class KerasStableDiffusion:
    """Implements engine.backends.base.DiffusionBackend for KerasCV's Stable Diffusion."""

    max_tokens = MAX_TOKENS

    def __init__(self, spec: ModelSpec, label: str, width: int, height: int,
                 components: Components, tokenizer: SimpleTokenizer):
        self.model_id = spec.id
        self.family = spec.family
        self.label = label
        self.prediction = spec.prediction
        self.width, self.height = width, height
        self.components = components
        self.tokenizer = tokenizer
        self._positions = np.arange(MAX_TOKENS, dtype=np.int32)[None]
        self._unconditional: Optional[np.ndarray] = None
        self.prompts = PromptEncoder(components.text_encoder, tokenizer, self._call)
        self._embeddings: dict[tuple[int, int], np.ndarray] = {}
        self.xla = False
        self._calls: dict[str, object] = {}

    def set_xla(self, on: bool) -> None:
        self.components.compile_xla(on)
        self.xla = on
        self._calls.clear()

    def _call(self, model: keras.Model, inputs) -> np.ndarray:
        """The network through this framework's compiled call (compute), one per
        model; it keeps one program per input shape, as KerasCV's calls have."""
        fn = self._calls.get(model.name)
        if fn is None:
            fn = compute.current().compiled(model, jit=self.xla)
            self._calls[model.name] = fn
        return fn(inputs)

    @property
    def batched_guidance(self) -> bool:
        """One call of 2B on a GPU. On a CPU two calls of B, run as one graph
        (`denoise_pair`): per step 0.83x KerasCV's time at 128x128 and 0.81x at
        256x256, where one call of 2B took 1.22x and 0.86x (SD 1.4, batch 1, 5 steps,
        medians of 7 interleaved runs, 2-core Xeon with 1-min load 1.8-2.1 including
        the benchmark itself, TF 2.21 with oneDNN; `python main.py benchmark`).
        Two calls of B give KerasCV's images bit for bit; one of 2B differs by a
        pixel level or two."""
        return compute.current().has_gpu()

    def use_networks(self, loras, clip_skip: int = 1, embeddings=None) -> None:
        """The request's LoRAs ((LoraFile, text weight, UNet weight), ...) on the weights,
        in place of the last request's, and its text options."""
        before = self.components.loras.applied
        self.components.loras.apply(tuple(loras))
        if self.components.loras.applied != before:
            self._unconditional = None  # a LoRA's text-encoder part changes it too
        # As A1111: SD 2.x's text encoder is already cut before its last layer, and clip
        # skip leaves it so (the request still records what was asked).
        skip = clip_skip if self.family == "sd-v1" else 1
        self.set_text_options(TextOptions(skip, dict(embeddings or {})))

    def set_text_options(self, options: TextOptions) -> None:
        """Clip skip and embeddings for the prompts encoded from now on."""
        if options.clip_skip != self.prompts.options.clip_skip:
            self._unconditional = None  # the empty prompt holds no embedding: only this counts
        self.prompts.options = options

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text))

    def prompt_length(self, text: str) -> tuple[int, int]:
        return self.prompts.count(text)

    def unknown_words(self, text: str) -> list[str]:
        return []

    def latent_shape(self) -> tuple[int, int, int]:
        return self.height // 8, self.width // 8, LATENT_CHANNELS

    def _encode_tokens(self, tokens: list[list[int]]) -> np.ndarray:
        return self._call(self.components.text_encoder, {
            "tokens": np.asarray(tokens, dtype=np.int32),
            "positions": np.repeat(self._positions, len(tokens), axis=0),
        })

    def encode(self, prompts: Sequence[str]) -> np.ndarray:
        """(len(prompts), 77 x chunks, width): prompts of fewer chunks are padded with
        the empty prompt's, as A1111 pads them."""
        contexts = [self.prompts.encode(prompt) for prompt in prompts]
        longest = max(contexts, key=lambda c: c.shape[1])
        return np.concatenate([same_length(c, longest, self.unconditional(1))[0] for c in contexts])

    def unconditional(self, batch: int) -> np.ndarray:
        """The empty prompt's context: A1111's with clip skip and the like applied too."""
        if self._unconditional is None:
            if self.prompts.options.clip_skip == 1:
                self._unconditional = self._encode_tokens([list(_UNCONDITIONAL_TOKENS)])
            else:
                self._unconditional = self.prompts.encode("")
        return np.repeat(self._unconditional, batch, axis=0)

    def _embedding(self, timestep: float, batch: int) -> np.ndarray:
        key = (timestep, batch)
        if key not in self._embeddings:
            self._embeddings[key] = np.repeat(timestep_embedding(timestep), batch, axis=0)
        return self._embeddings[key]

    def denoise(self, latent: np.ndarray, timestep: float, context: np.ndarray) -> np.ndarray:
        output = self._call(self.components.diffusion_model, {
            "latent": np.asarray(latent),
            "timestep_embedding": self._embedding(timestep, len(latent)),
            "context": np.asarray(context),
        })
        return self._as_noise(output, latent, timestep)

    def _as_noise(self, output, latent, timestep: float):
        """The protocol's predicted noise, whatever the UNet predicts: the one place a
        v-prediction model's output is converted, so every sampler works on it."""
        if self.prediction != "v":
            return output
        return schedule.noise_from_v(np.asarray(output, np.float32), np.asarray(latent, np.float32),
                                     timestep)

    def encode_image(self, pixels: np.ndarray, tile: Optional[int] = None) -> np.ndarray:
        """KerasCV's encoder takes pixels in [-1, 1], the decoder's range, and gives the
        mean of the latent distribution, already scaled by SD's 0.18215. In tiles where
        the whole would not fit (`tile`, in latent cells, forces a size)."""
        scaled = np.asarray(pixels, np.float32) / np.float32(127.5) - np.float32(1.0)
        if tile is None:
            tile = tiled_vae.tile_for(scaled.shape[1] // 8, scaled.shape[2] // 8, len(scaled),
                                      tiled_vae.free_bytes(), tiled_vae.ENCODE_BYTES_PER_PIXEL)
        encoder = self.components.image_encoder
        if tile is None:
            return np.asarray(self._call(encoder, scaled), np.float32)
        return tiled_vae.tiled(scaled, lambda part: self._call(encoder, part), tile * 8,
                               tiled_vae.overlap_for(tile) * 8, up=1, down=8)

    def decode(self, latent: np.ndarray, tile: Optional[int] = None) -> np.ndarray:
        """In tiles where the whole would not fit (`tile`, in latent cells, forces a size)."""
        latent = np.asarray(latent)
        if tile is None:
            tile = tiled_vae.tile_for(latent.shape[1], latent.shape[2], len(latent),
                                      tiled_vae.free_bytes())
        if tile is None:
            decoded = self._call(self.components.decoder, latent)
        else:
            decoded = tiled_vae.tiled(
                latent, lambda part: self._call(self.components.decoder_for(*part.shape[1:3]), part),
                tile, tiled_vae.overlap_for(tile), up=8)
        return np.clip(((decoded + 1) / 2) * 255, 0, 255).astype("uint8")

    def preview(self, predicted_clean_latent: np.ndarray) -> np.ndarray:
        rgb = np.asarray(predicted_clean_latent, dtype=np.float32) @ _LATENT_TO_RGB
        return np.clip((rgb + 1.0) * 127.5, 0, 255).astype(np.uint8)


class PairedKerasStableDiffusion(KerasStableDiffusion):
    """Adds base.PairedGuidance where the framework can overlap two calls
    (compute's `compiled_pair`: TensorFlow's executor)."""

    def denoise_pair(self, latent: np.ndarray, timestep: float, unconditional: np.ndarray,
                     context: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Guidance's two calls of B, as KerasCV makes them, run together.

        Each call still sees exactly KerasCV's batch-B inputs, so the images stay
        bit-identical to its own.

        Under XLA the graph becomes one compiled program and the gain all but goes
        (0.97x, inside noise, at 128x128 with a 5 s longer compile), so there the
        two calls stay the ones `denoise` has already compiled.

        Both calls' activations are alive at once: peak memory measured 0.16 GB
        above the calls in turn at 256x256 and 1.3 GB at 512x512 (batch 1, float32).
        Where the machine has not got twice that free, the calls run in turn; the
        images are the same either way, so switching mid-generation is harmless.
        """
        batch = len(latent)
        if self.xla or not _pair_fits(batch, self.height, self.width):
            return (self.denoise(latent, timestep, unconditional),
                    self.denoise(latent, timestep, context))
        fn = self._calls.get("diffusion pair")
        if fn is None:
            fn = compute.current().compiled_pair(self.components.diffusion_model)
            self._calls["diffusion pair"] = fn
        latent, embedding = np.asarray(latent), self._embedding(timestep, batch)
        pair = fn({"latent": latent, "timestep_embedding": embedding, "context": np.asarray(unconditional)},
                  {"latent": latent, "timestep_embedding": embedding, "context": np.asarray(context)})
        return tuple(self._as_noise(output, latent, timestep) for output in pair)


def keras_stable_diffusion(*args, **kwargs) -> KerasStableDiffusion:
    """KerasStableDiffusion, with paired guidance where this framework has it."""
    paired = hasattr(compute.current(), "compiled_pair")
    return (PairedKerasStableDiffusion if paired else KerasStableDiffusion)(*args, **kwargs)
