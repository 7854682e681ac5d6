"""Every sampler on the demo model (pixel space, tiny), and on a model whose exact
solution is known, so convergence is measured, not assumed."""
import math

import numpy as np
import pytest

from engine import samplers, schedule
from engine.demo.analysis import read_image
from engine.events import CancelToken
from engine.noise import initial_noise
from engine.request import GenerationRequest
from engine.sampler import Cancelled, sample

SIZE = 128
DETERMINISTIC = [s for s in samplers.IDS if s not in ("euler-a", "euler-a-sgm", "lcm")]  # no fresh noise


@pytest.fixture(scope="module")
def demo():
    from engine.demo.backend import load_demo_backend
    return load_demo_backend(SIZE, SIZE)


def demo_request(name, steps, prompt="a large red circle on the left, blue background",
                 seed=3, batch=1):
    return GenerationRequest(prompt=prompt, seed=seed, steps=steps, sampler=name, batch=batch,
                             width=SIZE, height=SIZE, model="demo", preview=False)


def pixels(backend, request, **options):
    return sample(backend, request, **options).images.astype(np.float64)


@pytest.mark.parametrize("name", samplers.IDS)
def test_each_sampler_draws_what_the_prompt_says(demo, name):
    images = sample(demo, demo_request(name, 20, "a large yellow square on the right, "
                                                 "purple background", seed=11, batch=2)).images
    readings = [read_image(image) for image in images]
    assert [(r.colour, r.background) for r in readings] == [("yellow", "purple")] * 2


@pytest.fixture(scope="module")
def reference(demo):
    return pixels(demo, demo_request("dpmpp-2m", 200))


def test_ddim_and_dpmpp_2m_converge_to_the_same_image(demo, reference):
    # Two different methods agreeing at 200 steps is what makes the reference a reference.
    assert np.abs(pixels(demo, demo_request("ddim", 200)) - reference).mean() < 0.5


@pytest.mark.parametrize("name", DETERMINISTIC)
def test_distance_to_the_reference_falls_as_steps_grow(demo, reference, name):
    distances = [np.abs(pixels(demo, demo_request(name, n)) - reference).mean() for n in (8, 15, 30)]
    assert distances[0] > distances[1] > distances[2], distances


def test_a_second_order_sampler_at_50_steps_beats_ddim_at_50(demo, reference):
    ddim = np.abs(pixels(demo, demo_request("ddim", 50)) - reference).mean()
    dpmpp = np.abs(pixels(demo, demo_request("dpmpp-2m-karras", 50)) - reference).mean()
    assert dpmpp < ddim / 2, (dpmpp, ddim)


def test_ancestral_noise_is_each_images_own(demo):
    together = pixels(demo, demo_request("euler-a", 10, seed=5, batch=2))
    alone = [pixels(demo, demo_request("euler-a", 10, seed=s)) for s in (5, 6)]
    assert np.array_equal(together[0], alone[0][0]) and np.array_equal(together[1], alone[1][0])
    assert np.array_equal(alone[0], pixels(demo, demo_request("euler-a", 10, seed=5)))
    # The per-step noise matters: the same start without it is another image.
    assert np.abs(alone[0] - pixels(demo, demo_request("euler", 10, seed=5))).mean() > 1


def test_cancel_mid_way_through_a_stateful_sampler_leaves_no_state_behind(demo):
    token = CancelToken()

    def cancel_after_three(progress):
        if progress.phase == "denoising" and progress.step == 3:
            token.cancel()
    with pytest.raises(Cancelled):
        sample(demo, demo_request("unipc", 10), on_progress=cancel_after_three, cancel=token)
    steps = []
    whole = sample(demo, demo_request("unipc", 10),
                   on_progress=lambda p: steps.append(p.step) if p.phase == "denoising" else None)
    assert steps == list(range(1, 11))
    assert np.array_equal(whole.images, sample(demo, demo_request("unipc", 10)).images)


def test_fractional_timesteps_interpolate_log_sigma():
    for t in (0, 1, 500, 998, 999):
        assert schedule.sigma_at(t) == pytest.approx(float(schedule.SIGMAS[t]), rel=1e-12)
        assert schedule.timestep_at(schedule.sigma_at(t)) == pytest.approx(t, abs=1e-9)
    halfway = schedule.sigma_at(500.5)
    assert halfway == pytest.approx(math.sqrt(schedule.SIGMAS[500] * schedule.SIGMAS[501]))
    assert schedule.timestep_at(halfway) == pytest.approx(500.5)
    assert schedule.alpha_cumprod_at(500) == schedule.ALPHAS_CUMPROD[500]
    assert schedule.alpha_cumprod_at(500.5) == pytest.approx(1 / (1 + halfway ** 2))


# A "model" of data drawn from N(MEAN, SPREAD^2): its ideal denoiser is linear, and the
# probability-flow ODE keeps (x - MEAN) / sqrt(SPREAD^2 + sigma^2) constant.
MEAN, SPREAD = 0.3, 0.5


class GaussianData:
    model_id = label = "gaussian"
    max_tokens = 77

    def latent_shape(self):
        return 4, 4, 1

    def encode(self, prompts):
        return np.zeros((len(prompts), 1), np.float32)

    def unconditional(self, batch):
        return np.zeros((batch, 1), np.float32)

    def denoise(self, seen, timestep, context):
        sigma = schedule.sigma_at(timestep)
        x = seen.astype(np.float64) * math.sqrt(1 + sigma ** 2)
        clean = MEAN + SPREAD ** 2 / (SPREAD ** 2 + sigma ** 2) * (x - MEAN)
        return ((x - clean) / sigma).astype(np.float32)

    def decode(self, latent):
        return latent

    def preview(self, latent):
        return latent


def _exact(start):
    """The exact solution from sigma max to the lowest level, denoised there (where every
    schedule ends)."""
    x = start.astype(np.float64) * schedule.SIGMA_MAX
    low = schedule.SIGMA_MIN
    at_low = MEAN + (x - MEAN) * math.sqrt((SPREAD ** 2 + low ** 2)
                                           / (SPREAD ** 2 + schedule.SIGMA_MAX ** 2))
    return MEAN + SPREAD ** 2 / (SPREAD ** 2 + low ** 2) * (at_low - MEAN)


def _gaussian_error(name, steps, start):
    request = GenerationRequest("x", steps=steps, sampler=name, guidance=1.0, preview=False)
    out = sample(GaussianData(), request, batched_guidance=False, noise=start).images
    return float(np.abs(out - _exact(start)).mean())


@pytest.mark.parametrize("name,order", [("euler", 1), ("dpmpp-2m-karras", 2)])
def test_solvers_converge_at_their_order(name, order):
    start = initial_noise([1], GaussianData().latent_shape())
    errors = [_gaussian_error(name, n, start) for n in (40, 80, 160)]
    rates = [math.log2(errors[i] / errors[i + 1]) for i in range(2)]
    assert all(order - 0.2 < r < order + 0.3 for r in rates), rates


def test_unipc_corrector_is_third_order_on_karras_levels():
    from engine.samplers import schedules
    from engine.samplers.unipc import UniPC
    start = initial_noise([1], GaussianData().latent_shape())
    model, errors = GaussianData(), []
    for steps in (20, 40, 80):
        method = UniPC(schedules.karras(steps))
        x = method.start(start)
        for i in range(method.steps):
            eps = model.denoise(method.model_input(x, i), method.timestep(i), None)
            x, _ = method.step(x, eps, i)
        errors.append(float(np.abs(x - _exact(start)).mean()))
    rates = [math.log2(errors[i] / errors[i + 1]) for i in range(2)]
    assert all(2.7 < r < 3.5 for r in rates), rates
