"""Our step loop against KerasCV's own generate_image, with the session's random weights."""
import numpy as np
import pytest

from engine import sampler
from engine.events import CancelToken


@pytest.fixture(scope="module")
def kerascv(sd_engine):
    """KerasCV's StableDiffusion wired to the very same components and tokenizer."""
    from keras_cv.src.models.stable_diffusion.stable_diffusion import StableDiffusion

    backend = sd_engine._backend
    model = StableDiffusion(backend.width, backend.height, jit_compile=False)
    model._text_encoder = backend.components.text_encoder
    model._diffusion_model = backend.components.diffusion_model
    model._decoder = backend.components.decoder
    model._tokenizer = backend.tokenizer
    return model, backend


@pytest.mark.parametrize("negative_prompt", ["", "blurry, low quality"])
def test_loop_is_bit_identical_to_kerascv(kerascv, small_request, negative_prompt):
    model, backend = kerascv
    request = small_request.replace(negative_prompt=negative_prompt, guidance=7.5)
    expected = model.generate_image(model.encode_text(request.prompt),
                                    negative_prompt=negative_prompt or None,
                                    num_steps=request.steps,
                                    unconditional_guidance_scale=request.guidance,
                                    seed=request.seed)
    ours = sampler.sample(backend, request, batched_guidance=False).images
    assert ours.shape == expected.shape == (1, 128, 128, 3)
    assert np.array_equal(ours, expected)
    # Random weights still make a non-flat image: the comparison is not trivially true.
    assert ours.std() > 1


def test_batched_guidance_stays_within_a_pixel_level_or_two(kerascv, small_request):
    _, backend = kerascv
    two_calls = sampler.sample(backend, small_request, batched_guidance=False).images
    one_call = sampler.sample(backend, small_request, batched_guidance=True).images
    difference = np.abs(two_calls.astype(int) - one_call.astype(int))
    print(f"batched guidance: largest pixel difference {difference.max()}, "
          f"mean {difference.mean():.4f}")
    assert difference.max() <= 2


def test_every_image_of_a_batch_is_reproduced_by_its_own_seed(kerascv, small_request):
    _, backend = kerascv
    batch = sampler.sample(backend, small_request.replace(batch=2)).images
    alone = sampler.sample(backend, small_request.replace(seed=small_request.seed + 1)).images
    difference = np.abs(batch[1].astype(int) - alone[0].astype(int))
    print(f"batch image vs its seed alone: largest pixel difference {difference.max()}")
    assert difference.max() <= 2
    assert np.abs(batch[0].astype(int) - batch[1].astype(int)).max() > 10


def test_seeds_past_kerascv_period_still_differ():
    from engine.schedule import SEED_PERIOD

    low = sampler.initial_noise([5], (4, 4, 4))
    high = sampler.initial_noise([5 + SEED_PERIOD], (4, 4, 4))
    assert not np.array_equal(low, high)
    assert np.array_equal(high, sampler.initial_noise([5 + SEED_PERIOD], (4, 4, 4)))


def test_cancel_lands_within_one_step(kerascv, small_request):
    _, backend = kerascv
    token = CancelToken()
    steps_seen = []

    def on_progress(progress):
        if progress.phase == "denoising":
            steps_seen.append(progress.step)
            if progress.step == 2:
                token.cancel()

    with pytest.raises(sampler.Cancelled):
        sampler.sample(backend, small_request.replace(steps=6), on_progress, token)
    assert steps_seen == [1, 2]


def test_every_step_reports_a_preview_of_the_batch(kerascv, small_request):
    _, backend = kerascv
    seen = []
    sampler.sample(backend, small_request.replace(batch=2, preview=True), seen.append)
    steps = [p for p in seen if p.phase == "denoising"]
    assert [p.step for p in steps] == [1, 2, 3]
    assert all(p.total == 3 for p in steps)
    for progress in steps:
        assert progress.preview.dtype == np.uint8 and progress.preview.shape == (2, 16, 16, 3)
    assert [p.phase for p in seen][0] == "encoding" and seen[-1].phase == "decoding"
