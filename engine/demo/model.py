"""The demo model's networks: a tiny text encoder and a small conditional UNet.

Diffusion runs in pixel space at IMAGE_SIZE (images scaled to [-1, 1]) on
KerasCV's 1000-step schedule; the backend upsamples the result.

The UNet predicts v = sqrt(a) * noise - sqrt(1 - a) * image, and the backend
hands the loop noise = sqrt(1 - a) * x + sqrt(a) * v, so the shared DDIM loop
drives it exactly as it drives Stable Diffusion. Why not predict noise directly:
this schedule keeps sqrt(a) = 0.07 of the image at t = 999, so the loop's
image estimate there divides the noise error by 0.07; a small noise-predicting
UNet after a short training drew coloured mush. v is accurate at both ends.
"""
from __future__ import annotations

import math

import keras
from keras import layers, ops

from engine.demo.text import SEQUENCE_LENGTH, VOCABULARY

IMAGE_SIZE = 32
CHANNELS = 3
CONTEXT_DIM = 64
TIME_DIM = 128


@keras.saving.register_keras_serializable(package="sd_desk_demo")
class TimestepEmbedding(layers.Layer):
    """Sinusoidal features of the timestep (0..999), as in the DDPM paper."""

    def __init__(self, dim: int, **kwargs):
        super().__init__(**kwargs)
        self.dim = dim

    def call(self, t):
        half = self.dim // 2
        freqs = ops.exp(-math.log(10000.0) * ops.arange(half, dtype="float32") / half)
        args = ops.expand_dims(ops.cast(t, "float32"), -1) * ops.expand_dims(freqs, 0)
        return ops.concatenate([ops.cos(args), ops.sin(args)], axis=-1)

    def get_config(self):
        return {**super().get_config(), "dim": self.dim}


@keras.saving.register_keras_serializable(package="sd_desk_demo")
class AddCoordinates(layers.Layer):
    """Appends x and y coordinate planes: convolutions alone barely know where they
    are, and "on the left" is a statement about absolute position."""

    def call(self, x):
        h, w = x.shape[1], x.shape[2]
        ys, xs = ops.meshgrid(ops.linspace(-1.0, 1.0, h), ops.linspace(-1.0, 1.0, w), indexing="ij")
        grid = ops.expand_dims(ops.stack([xs, ys], axis=-1), 0)
        grid = ops.broadcast_to(ops.cast(grid, x.dtype), (ops.shape(x)[0], h, w, 2))
        return ops.concatenate([x, grid], axis=-1)


@keras.saving.register_keras_serializable(package="sd_desk_demo")
class PositionEmbedding(layers.Layer):
    def build(self, input_shape):
        self.table = self.add_weight(
            shape=(input_shape[1], input_shape[2]), initializer="random_normal", name="table")

    def call(self, x):
        return x + ops.expand_dims(self.table, 0)


def build_text_encoder() -> keras.Model:
    ids = keras.Input((SEQUENCE_LENGTH,), dtype="int32", name="token_ids")
    x = layers.Embedding(len(VOCABULARY), CONTEXT_DIM, name="words")(ids)
    x = PositionEmbedding(name="positions")(x)
    for i in range(2):
        h = layers.LayerNormalization(name=f"ln_attn{i}")(x)
        h = layers.MultiHeadAttention(4, CONTEXT_DIM // 4, name=f"self_attn{i}")(h, h)
        x = x + h
        h = layers.LayerNormalization(name=f"ln_mlp{i}")(x)
        h = layers.Dense(CONTEXT_DIM * 2, activation="gelu", name=f"mlp_in{i}")(h)
        x = x + layers.Dense(CONTEXT_DIM, name=f"mlp_out{i}")(h)
    x = layers.LayerNormalization(name="ln_out")(x)
    return keras.Model(ids, x, name="demo_text_encoder")


def _res_block(x, cond, channels: int, name: str):
    h = layers.GroupNormalization(8, name=f"{name}_gn1")(x)
    h = layers.Conv2D(channels, 3, padding="same", name=f"{name}_conv1")(ops.silu(h))
    # The condition (timestep + pooled caption) shifts every channel: FiLM-style.
    h = h + layers.Reshape((1, 1, channels))(layers.Dense(channels, name=f"{name}_cond")(cond))
    h = layers.GroupNormalization(8, name=f"{name}_gn2")(h)
    h = layers.Conv2D(channels, 3, padding="same", name=f"{name}_conv2")(ops.silu(h))
    skip = x if x.shape[-1] == channels else layers.Conv2D(channels, 1, name=f"{name}_skip")(x)
    return skip + h


def _cross_attention(x, context, name: str):
    """Each pixel looks at the caption's words: binds "red" to the shape and not the background."""
    h, w, c = x.shape[1], x.shape[2], x.shape[3]
    q = layers.Reshape((h * w, c))(layers.GroupNormalization(8, name=f"{name}_gn")(x))
    # A learned embedding of each pixel's place lets "on the left" attend to the left
    # half directly, instead of through coordinates carried up from the stem.
    q = PositionEmbedding(name=f"{name}_where")(q)
    a = layers.MultiHeadAttention(4, c // 4, name=f"{name}_attn")(q, context)
    return x + layers.Reshape((h, w, c))(a)


def build_unet() -> keras.Model:
    image = keras.Input((IMAGE_SIZE, IMAGE_SIZE, CHANNELS), name="noisy")
    timestep = keras.Input((), name="timestep")
    context = keras.Input((SEQUENCE_LENGTH, CONTEXT_DIM), name="context")

    t = TimestepEmbedding(64, name="t_features")(timestep)
    t = layers.Dense(TIME_DIM, activation="silu", name="t_mlp1")(t)
    t = layers.Dense(TIME_DIM, name="t_mlp2")(t)
    pooled = layers.Dense(TIME_DIM, name="caption_pool")(ops.mean(context, axis=1))
    cond = ops.silu(t + pooled)

    x = layers.Conv2D(32, 3, padding="same", name="stem")(AddCoordinates(name="coords")(image))
    s1 = _res_block(x, cond, 32, "d1")
    x = layers.Conv2D(64, 3, strides=2, padding="same", name="down1")(s1)
    s2 = _cross_attention(_res_block(x, cond, 64, "d2"), context, "d2x")
    x = layers.Conv2D(128, 3, strides=2, padding="same", name="down2")(s2)
    x = _cross_attention(_res_block(x, cond, 128, "m1"), context, "m1x")
    x = _cross_attention(_res_block(x, cond, 128, "m2"), context, "m2x")
    x = layers.Conv2D(64, 3, padding="same", name="up2")(layers.UpSampling2D(2)(x))
    x = _cross_attention(_res_block(layers.Concatenate()([x, s2]), cond, 64, "u2"), context, "u2x")
    x = layers.Conv2D(32, 3, padding="same", name="up1")(layers.UpSampling2D(2)(x))
    x = _res_block(layers.Concatenate()([x, s1]), cond, 32, "u1")
    x = ops.silu(layers.GroupNormalization(8, name="out_gn")(x))
    eps = layers.Conv2D(CHANNELS, 3, padding="same", kernel_initializer="zeros", name="out")(x)
    return keras.Model([image, timestep, context], eps, name="demo_unet")
