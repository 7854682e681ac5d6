"""Image to image on Stable Diffusion's real networks with random weights: the encoder's
file is loaded and needed, strength 0 and inpainting keep the source. Whether the
result follows the prompt is the demo model's to show (test_img2img.py)."""
from __future__ import annotations

import os

import numpy as np
import pytest

from engine.errors import MissingWeights
from engine.img2img.prepare import prepare
from engine.img2img.store import SourceStore
from engine.request import GenerationRequest
from tests.engine.sd_fixtures import SIZE, weight_fingerprint


@pytest.fixture(scope="module")
def store():
    return SourceStore.of_history()  # where the session's engine looks (the test sandbox's)


def picture() -> np.ndarray:
    rows = np.linspace(0, 255, SIZE, dtype=np.float32)
    image = np.stack(np.broadcast_arrays(rows[:, None], rows[None, :], np.full((SIZE, SIZE), 90.0)), -1)
    return image.astype(np.uint8)


def corner_mask() -> np.ndarray:
    mask = np.zeros((SIZE, SIZE), np.uint8)
    mask[SIZE // 2:, SIZE // 2:] = 255
    return mask


def request_for(store, image, mask=None, **options) -> GenerationRequest:
    prepared = prepare(store, image, mask, **options)
    return GenerationRequest("a lighthouse", model="sd-v1.4", seed=5, steps=4, sampler="euler-a",
                             width=prepared.width, height=prepared.height, preview=False,
                             source=prepared.source)


def test_strength_zero_returns_the_source_exactly(sd_engine, store):
    image = picture()
    result = sd_engine.generate(request_for(store, image, strength=0.0))
    assert np.array_equal(result.images[0].pixels, image)


def test_the_encoder_comes_from_its_file(sd_engine, store, sd_weights):
    sd_engine.generate(request_for(store, picture(), strength=0.5))
    encoder = sd_engine._backend.components.image_encoder
    assert weight_fingerprint(encoder) == sd_weights[1]["image_encoder"]


def test_inpainting_keeps_the_unmasked_pixels_and_repaints_the_masked_ones(sd_engine, store):
    from engine.img2img.canvas import build
    image, mask = picture(), corner_mask()
    request = request_for(store, image, mask, strength=1.0, mask_blur=4)
    result = sd_engine.generate(request).images[0].pixels.astype(np.int32)
    blurred = build(request.source, image, mask, SIZE, SIZE).mask
    change = np.abs(result - image)
    assert change[blurred == 0].max() <= 2
    assert change[blurred == 1].mean() > 10  # random weights paint something else there


def test_image_to_image_without_the_encoders_file_names_it_before_building(sd_weights, store, tmp_path):
    from engine.models.status import model_status
    from engine.pipeline import Engine

    folder = tmp_path / "no-encoder"
    folder.mkdir()
    for item in sd_weights[0].iterdir():
        if item.name != "vae_encoder.h5":
            os.link(item, folder / item.name)
    engine = Engine(weights_dir=folder, sources=store)
    with pytest.raises(MissingWeights) as caught:
        engine.generate(request_for(store, picture()))
    assert "vae_encoder.h5 (image to image needs it)" in str(caught.value)
    assert str(folder) in str(caught.value)
    assert engine._backend is None  # refused before anything was built
    assert model_status("sd-v1.4", folder).state != "missing"  # text to image still has its files
