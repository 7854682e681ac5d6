"""Our step loop against KerasCV's own generate_image, with the session's random weights."""
import numpy as np
import pytest

from engine import noise, sampler
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
    # The CPU default: guidance's two calls of B, run as one graph (denoise_pair).
    ours = sampler.sample(backend, request, batched_guidance=False).images
    assert ours.shape == expected.shape == (1, 128, 128, 3)
    assert np.array_equal(ours, expected)
    # Random weights still make a non-flat image: the comparison is not trivially true.
    assert ours.std() > 1


class _Delegate:
    """A backend seen through a wrapper: counts the paired calls, or hides them."""

    def __init__(self, backend, pair: bool):
        self._backend, self._pair, self.pairs = backend, pair, 0

    def __getattr__(self, name):
        if name != "denoise_pair":
            return getattr(self._backend, name)
        if not self._pair:
            raise AttributeError(name)

        def counted(*args):
            self.pairs += 1
            return self._backend.denoise_pair(*args)
        return counted


def test_paired_guidance_is_used_and_matches_the_two_calls_in_turn(kerascv, small_request):
    _, backend = kerascv
    paired, in_turn = _Delegate(backend, pair=True), _Delegate(backend, pair=False)
    together = sampler.sample(paired, small_request, batched_guidance=False).images
    apart = sampler.sample(in_turn, small_request, batched_guidance=False).images
    assert paired.pairs == small_request.steps
    assert np.array_equal(together, apart)


def test_denoise_pair_is_bit_identical_to_two_denoise_calls(kerascv):
    _, backend = kerascv
    rng = np.random.default_rng(7)
    for batch in (1, 2):
        latent = rng.standard_normal((batch, *backend.latent_shape())).astype(np.float32)
        unconditional = backend.unconditional(batch)
        context = backend.encode(["a red cube", "a blue sphere"][:batch])
        eps_u, eps_c = backend.denoise_pair(latent, 501, unconditional, context)
        assert np.array_equal(eps_u, backend.denoise(latent, 501, unconditional))
        assert np.array_equal(eps_c, backend.denoise(latent, 501, context))
        assert not np.array_equal(eps_u, eps_c)


def test_denoise_pair_runs_in_turn_where_memory_is_short(kerascv, small_request, monkeypatch):
    from engine.backends import keras_sd

    _, backend = kerascv
    together = sampler.sample(backend, small_request, batched_guidance=False).images
    monkeypatch.setattr(keras_sd, "_pair_fits", lambda *args: False)
    backend._calls.pop("diffusion pair", None)
    apart = sampler.sample(backend, small_request, batched_guidance=False).images
    assert "diffusion pair" not in backend._calls
    assert np.array_equal(together, apart)


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

    low = noise.initial_noise([5], (4, 4, 4))
    high = noise.initial_noise([5 + SEED_PERIOD], (4, 4, 4))
    assert not np.array_equal(low, high)
    assert np.array_equal(high, noise.initial_noise([5 + SEED_PERIOD], (4, 4, 4)))


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
