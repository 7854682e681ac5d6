"""The VAE in tiles: the tile size from the memory free, tiles covering every pixel with
their blend, and on Stable Diffusion's networks (random weights) tiled against whole."""
from __future__ import annotations

import numpy as np
import pytest

from engine.backends import tiled_vae
from engine.benchmark.hires import tile_differences
from engine.hires.upscale import resize_latent


def pointwise_up(latent: np.ndarray) -> np.ndarray:
    """A stand-in decoder with no context: tiling must not change its output at all."""
    return np.tanh(latent[..., :3]).repeat(8, axis=1).repeat(8, axis=2)


def test_a_pointwise_decoder_gives_the_same_pixels_in_tiles():
    latent = np.random.default_rng(1).normal(size=(2, 40, 56, 4)).astype(np.float32)
    whole = pointwise_up(latent)
    for tile, overlap in ((16, 8), (24, 8), (32, 16)):
        tiles = tiled_vae.tiled(latent, pointwise_up, tile, overlap, up=8)
        assert np.allclose(tiles, whole, atol=1e-5)


def test_an_encoder_shape_tiles_down():
    pixels = np.random.default_rng(2).normal(size=(1, 320, 192, 3)).astype(np.float32)
    def box(part):
        b, h, w, c = part.shape
        return part.reshape(b, h // 8, 8, w // 8, 8, c).mean(axis=(2, 4))
    assert np.allclose(tiled_vae.tiled(pixels, box, 128, 64, down=8), box(pixels), atol=1e-5)


def test_tiles_all_have_one_shape():
    shapes = set()
    def record(part):
        shapes.add(part.shape)
        return pointwise_up(part)
    tiled_vae.tiled(np.zeros((1, 50, 70, 4), np.float32), record, 32, 8, up=8)
    assert shapes == {(1, 32, 32, 4)}


def test_the_whole_image_is_decoded_at_once_where_it_fits():
    need = tiled_vae.DECODE_BYTES_PER_PIXEL * 1024 * 1024
    assert tiled_vae.tile_for(128, 128, 1, free=int(need / tiled_vae.USABLE_FRACTION) + 1) is None


def test_less_memory_gives_smaller_tiles_never_below_the_minimum():
    per_512 = tiled_vae.DECODE_BYTES_PER_PIXEL * 512 * 512 / tiled_vae.USABLE_FRACTION
    big = tiled_vae.tile_for(256, 256, 1, free=int(per_512 * 1.01))
    small = tiled_vae.tile_for(256, 256, 1, free=int(per_512 / 4))
    assert big == 64 and small == 32
    assert tiled_vae.tile_for(256, 256, 1, free=1) == tiled_vae.MIN_TILE
    assert tiled_vae.tile_for(256, 256, 2, free=int(per_512 * 1.01)) < big  # a batch needs more


@pytest.mark.slow
def test_tiled_decode_matches_the_whole_on_sd(sd_engine, small_request):
    """The session's SD at 128 px has a decoder for 16x16 latents: a 32x32 latent (256 px)
    decodes whole (a decoder built for it) and in 16-cell tiles (the model's own)."""
    sd_engine.generate(small_request)
    backend = sd_engine._backend
    latent = np.random.default_rng(3).normal(size=(1, 32, 32, 4)).astype(np.float32)
    # A smooth latent, as a finished one is: random noise per cell has no picture to keep.
    latent = resize_latent(latent[:, ::4, ::4], 32, 32, "Latent (bicubic)")
    whole = backend.decode(latent, tile=32)  # one tile of the whole: a decoder built for 32x32
    tiles = backend.decode(latent, tile=16)
    assert whole.shape == tiles.shape == (1, 256, 256, 3)
    figures = tile_differences(whole, tiles, tile_pixels=128, overlap_pixels=64)
    # Each tile's group norms see only that tile: with random weights the levels move by
    # about 22 on average (measured), but the picture is the same one and the blend leaves
    # no step at the tile edges beyond the picture's own (seam score about 0.3).
    correlation = np.corrcoef(whole.ravel().astype(float), tiles.ravel().astype(float))[0, 1]
    assert correlation > 0.85, figures
    assert figures["seam"] < 2.0, figures


@pytest.mark.slow
def test_tiled_encode_matches_the_whole_on_sd(sd_engine, small_request):
    """The encoder in 128-pixel tiles against one call on the whole 256-pixel picture."""
    sd_engine.generate(small_request)
    backend = sd_engine._backend
    rows = np.linspace(0, 255, 256, dtype=np.float32)
    picture = np.stack(np.broadcast_arrays(rows[:, None], rows[None, :], np.full((256, 256), 90.0)),
                       -1).astype(np.uint8)[None]
    whole = backend.encode_image(picture, tile=32)  # one tile of the whole
    tiles = backend.encode_image(picture, tile=16)
    assert whole.shape == tiles.shape == (1, 32, 32, 4)
    # Each tile's group norms normalise its own part of the gradient away, so tiles of a
    # plain gradient agree with the whole far less than decoded tiles do (0.52 measured on
    # seeded random encoder weights): why the encoder tiles only when the whole cannot fit.
    # Misplaced or unblended tiles fall well below this.
    correlation = np.corrcoef(whole.ravel(), tiles.ravel())[0, 1]
    assert correlation > 0.3
    assert np.abs(whole - tiles).mean() < whole.std()
