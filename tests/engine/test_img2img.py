"""Image to image, inpainting and outpainting on the demo model (semantics) and the
samplers' starting point; Stable Diffusion's side is in test_img2img_sd.py."""
from __future__ import annotations

import numpy as np
import pytest

from engine.img2img.prepare import prepare
from engine.img2img.store import SourceStore
from engine.request import GenerationRequest
from engine.samplers.names import IDS as SAMPLERS

SIZE = 128
GREEN_PROMPT = "a red circle on a green background"
BLUE = (30, 60, 200)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return SourceStore(tmp_path_factory.mktemp("sources"))


@pytest.fixture(scope="module")
def engine(store):
    from engine.pipeline import Engine
    return Engine(sources=store)


def blue_image(width=SIZE, height=SIZE) -> np.ndarray:
    image = np.zeros((height, width, 3), np.uint8)
    image[...] = BLUE
    image[height // 4:height // 2, width // 4:width // 2] = (240, 240, 240)  # something to keep
    return image


def square_mask(width=SIZE, height=SIZE) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    mask[height // 2:, width // 2:] = 255
    return mask


def generate(engine, store, image, mask=None, prompt=GREEN_PROMPT, steps=8, seed=3,
             sampler="dpmpp-2m-karras", batch=1, **options) -> np.ndarray:
    prepared = prepare(store, image, mask, **options)
    request = GenerationRequest(prompt, model="demo", seed=seed, steps=steps, sampler=sampler,
                                width=prepared.width, height=prepared.height, batch=batch,
                                preview=False, source=prepared.source)
    result = engine.generate(request)
    return np.stack([im.pixels for im in result.images]).astype(np.int32)


def distance(a, b) -> float:
    return float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).mean())


def test_strength_zero_returns_the_source_exactly(engine, store):
    source = blue_image()
    assert np.array_equal(generate(engine, store, source, strength=0.0)[0], source)


def test_a_low_strength_stays_closer_to_the_source_than_a_high_one(engine, store):
    source = blue_image()
    distances = [distance(generate(engine, store, source, strength=s)[0], source)
                 for s in (0.2, 0.5, 0.8)]
    assert 0 < distances[0] < distances[1] < distances[2]


def test_a_high_strength_follows_the_prompts_colours(engine, store):
    source = blue_image()
    result = generate(engine, store, source, strength=0.95)[0]
    red, green, blue = result.reshape(-1, 3).mean(axis=0)
    assert green > blue + 40 and green > red  # a green background replaced the blue one


def test_the_same_seed_gives_the_same_image_and_batch_images_regenerate_alone(engine, store):
    source = blue_image()
    batch = generate(engine, store, source, strength=0.6, seed=11, batch=2)
    again = generate(engine, store, source, strength=0.6, seed=11)
    second_alone = generate(engine, store, source, strength=0.6, seed=12)
    assert np.array_equal(batch[0], again[0])
    assert np.array_equal(batch[1], second_alone[0])
    assert not np.array_equal(batch[0], batch[1])


def test_inpainting_keeps_unmasked_pixels_and_repaints_the_masked_ones(engine, store):
    from engine.img2img.canvas import build
    source, mask = blue_image(), square_mask()
    result = generate(engine, store, source, mask, strength=1.0, mask_blur=4)[0]
    prepared = prepare(store, source, mask, mask_blur=4)
    blurred = build(prepared.source, source, mask, SIZE, SIZE).mask
    untouched = blurred == 0
    assert untouched.mean() > 0.6
    assert np.abs(result - source)[untouched].max() <= 2
    inside = blurred == 1
    green = result[inside].mean(axis=0)
    assert green[1] > green[2] + 40  # the repainted corner follows the prompt


def test_outpainting_keeps_the_original_area_and_fills_the_margins(engine, store):
    source = blue_image()
    result = generate(engine, store, source, strength=1.0, outpaint=(64, 0, 64, 0), mask_blur=4)[0]
    assert result.shape == (SIZE, SIZE + 128, 3)
    # Inside the source, past the blur's reach, the pixels are the source's own.
    assert np.abs(result[:, 64 + 12:64 + SIZE - 12] - source[:, 12:SIZE - 12]).max() <= 2
    margins = np.concatenate([result[:, :52], result[:, -52:]], axis=1).reshape(-1, 3).mean(axis=0)
    assert margins[1] > margins[2] + 40  # filled with the prompt's green, not the source's blue


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_every_sampler_starts_part_way(engine, store, sampler):
    source = blue_image()
    half = distance(generate(engine, store, source, strength=0.5, sampler=sampler, steps=10)[0], source)
    full = distance(generate(engine, store, source, strength=1.0, sampler=sampler, steps=10)[0], source)
    assert 0 < half < full


def test_progress_counts_the_steps_that_run(engine, store):
    prepared = prepare(store, blue_image(), strength=0.5)
    request = GenerationRequest(GREEN_PROMPT, model="demo", steps=10, width=SIZE, height=SIZE,
                                preview=True, source=prepared.source)
    seen = []
    engine.generate(request, on_progress=seen.append)
    denoising = [p for p in seen if p.phase == "denoising"]
    assert [p.step for p in denoising] == [1, 2, 3, 4, 5]
    assert {p.total for p in seen} == {5}
    assert all(p.preview is not None for p in denoising)


def test_a_cancel_between_steps_stops_image_to_image(engine, store):
    from engine.events import CancelToken
    prepared = prepare(store, blue_image(), strength=1.0)
    token = CancelToken()

    def cancel_at_two(progress):
        if progress.phase == "denoising" and progress.step == 2:
            token.cancel()
    result = engine.generate(GenerationRequest(GREEN_PROMPT, model="demo", steps=10, width=SIZE,
                                               height=SIZE, source=prepared.source),
                             on_progress=cancel_at_two, cancel=token)
    assert result.cancelled and not result.images


def test_a_request_whose_source_left_the_store_fails_with_a_message(engine, tmp_path):
    from engine.errors import EngineError
    from engine.pipeline import Engine
    other = SourceStore(tmp_path / "other")
    prepared = prepare(other, blue_image())
    lost = Engine(sources=SourceStore(tmp_path / "empty"))
    with pytest.raises(EngineError, match="not in the history folder"):
        lost.generate(GenerationRequest(GREEN_PROMPT, model="demo", steps=2, width=SIZE,
                                        height=SIZE, source=prepared.source))
