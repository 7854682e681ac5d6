"""The few-step samplers: LCM (the consistency update with its boundary condition) and
the trailing "SGM Uniform" schedule SD-Turbo-style models use, on the demo model and on
their maths."""
import math

import numpy as np
import pytest

from engine import noise, samplers, schedule
from engine.demo.analysis import read_image
from engine.pngmeta import format_parameters, parse_parameters
from engine.request import GenerationRequest
from engine.sampler import sample
from engine.samplers import names, schedules
from engine.samplers.lcm import LCM, boundary_scalings, lcm_timesteps

SIZE = 128


@pytest.fixture(scope="module")
def demo():
    from engine.demo.backend import load_demo_backend
    return load_demo_backend(SIZE, SIZE)


def demo_request(sampler, steps, seed=3, batch=1, guidance=7.5,
                 prompt="a large yellow square on the right, purple background"):
    return GenerationRequest(prompt=prompt, seed=seed, steps=steps, sampler=sampler, batch=batch,
                             guidance=guidance, width=SIZE, height=SIZE, model="demo",
                             preview=False)


def test_lcm_timesteps_are_the_reference_schedulers():
    # diffusers' LCMScheduler.set_timesteps(n) on its 50-step skipping schedule.
    assert lcm_timesteps(1) == [999]
    assert lcm_timesteps(4) == [999, 759, 499, 259]
    assert lcm_timesteps(8) == [999, 879, 759, 639, 499, 379, 259, 139]
    assert lcm_timesteps(50) == list(range(999, 0, -20))
    # Past the schedule's 50 a finer one, still from the top and descending.
    many = lcm_timesteps(80)
    assert len(many) == 80 and many[0] == 999 and all(a > b >= 0 for a, b in zip(many, many[1:]))


def test_boundary_condition_keeps_the_latent_at_time_zero():
    assert boundary_scalings(0) == (1.0, 0.0)
    c_skip, c_out = boundary_scalings(999)
    assert c_skip < 1e-7 and c_out == pytest.approx(1.0, abs=1e-7)
    c_skip, c_out = boundary_scalings(0.05)  # 10 t = sigma_data: halfway
    assert c_skip == pytest.approx(0.5) and c_out == pytest.approx(math.sqrt(0.5))


def test_lcm_step_predicts_the_clean_latent_then_noises_it_to_the_next_timestep():
    rng = np.random.default_rng(1)
    x, eps, fresh = (rng.standard_normal((1, 4, 4, 4)).astype(np.float32) for _ in range(3))
    method = LCM(4, lambda index, shape: fresh)
    a_t, a_next = (schedule.ALPHAS_CUMPROD[t] for t in (999, 759))
    clean = (x - math.sqrt(1 - a_t) * eps) / math.sqrt(a_t)
    c_skip, c_out = boundary_scalings(999)
    denoised = c_out * clean + c_skip * x
    following, preview = method.step(x, eps, 0)
    np.testing.assert_allclose(preview, denoised, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(following, math.sqrt(a_next) * denoised + math.sqrt(1 - a_next) * fresh,
                               rtol=1e-5, atol=1e-5)
    # The last step lands on the prediction itself, with no noise added.
    last, last_preview = method.step(x, eps, 3)
    assert np.array_equal(last, last_preview)


@pytest.mark.parametrize("sampler", ["lcm", "euler-a-sgm", "euler-sgm"])
def test_few_step_samplers_draw_what_the_prompt_says_on_the_demo_model(demo, sampler):
    # At the guidance few-step models are made for (at 7.5 LCM's 4 steps on the demo,
    # which is not distilled, get a colour wrong now and then).
    images = sample(demo, demo_request(sampler, 4, seed=11, batch=2, guidance=1.5)).images
    assert [(r.colour, r.background) for r in map(read_image, images)] == [("yellow", "purple")] * 2


def test_lcm_noise_is_each_images_own_and_matters(demo, monkeypatch):
    together = sample(demo, demo_request("lcm", 4, seed=5, batch=2)).images
    alone = [sample(demo, demo_request("lcm", 4, seed=s)).images[0] for s in (5, 6)]
    assert np.array_equal(together[0], alone[0]) and np.array_equal(together[1], alone[1])
    # Without the fresh noise between steps the same start is another image.
    monkeypatch.setattr(noise, "step_noise", lambda seeds, shape, step: np.zeros(
        (len(seeds), *shape), np.float32))
    quiet = sample(demo, demo_request("lcm", 4, seed=5)).images[0]
    assert np.abs(quiet.astype(int) - alone[0].astype(int)).mean() > 1


def test_sgm_uniform_is_a1111s_trailing_timesteps():
    steps = [schedule.timestep_at(s) for s in schedules.sgm_uniform(4)[:-1]]
    np.testing.assert_allclose(steps, [999, 749.25, 499.5, 249.75], atol=1e-6)
    one = schedules.sgm_uniform(1)
    assert one[-1] == 0 and len(one) == 2 and schedule.timestep_at(one[0]) == pytest.approx(999)
    # The uniform schedule ends at timestep 0; the trailing one a step short of it.
    assert schedule.timestep_at(schedules.uniform_in_time(4)[-2]) == pytest.approx(0, abs=1e-6)


def test_one_turbo_step_is_the_models_clean_prediction_from_pure_noise(demo):
    request = demo_request("euler-sgm", 1, guidance=1.0)
    start = noise.initial_noise(request.seeds(), demo.latent_shape()) * schedule.SIGMA_MAX
    seen = start / math.sqrt(1 + schedule.SIGMA_MAX ** 2)
    eps = demo.denoise(seen.astype(np.float32), 999.0, demo.encode([request.prompt]))
    clean = np.clip(start - schedule.SIGMA_MAX * eps, -1, 1)
    np.testing.assert_allclose(sample(demo, request).latent, clean, atol=1e-4)
    # Euler a's fresh noise is never added on a single step down to 0.
    assert np.array_equal(sample(demo, request).images,
                          sample(demo, demo_request("euler-a-sgm", 1, guidance=1.0)).images)


@pytest.mark.parametrize("sampler,written", [
    ("lcm", "Sampler: LCM, CFG scale"),
    ("euler-a-sgm", "Sampler: Euler a, Schedule type: SGM Uniform, CFG scale"),
    ("euler-sgm", "Sampler: Euler, Schedule type: SGM Uniform, CFG scale"),
])
def test_a1111_text_names_them_as_a1111_does_and_reads_back(sampler, written):
    request = GenerationRequest("a cat", sampler=sampler, steps=4, guidance=1.0)
    text = format_parameters(request, 7, "demo")
    assert written in text
    assert parse_parameters(text).recipe.values["sampler"] == sampler


def test_names_in_either_form_and_the_api_schedule_type():
    from engine.api import catalogue
    assert names.from_either("lcm") == names.from_either("LCM") == "lcm"
    assert names.from_a1111("Euler a", "SGM Uniform") == "euler-a-sgm"
    assert names.from_a1111("Euler", "SGM Uniform") == "euler-sgm"
    assert names.from_a1111("DPM++ 2M", "SGM Uniform") is None  # not offered
    assert catalogue.sampler_id("Euler a", "sgm_uniform") == "euler-a-sgm"
    assert catalogue.sampler_id("LCM", None) == "lcm"
    assert "LCM" in [s["name"] for s in catalogue.samplers()]
    assert "sgm_uniform" in [s["name"] for s in catalogue.schedulers()]


def test_cli_takes_sampler_lcm(tmp_path):
    import main
    from PIL import Image
    out = tmp_path / "out"
    code = main.main(["generate", "--prompt", "a large yellow square, purple background",
                      "--model", "demo", "--sampler", "lcm", "--steps", "4", "--guidance", "1",
                      "--seed", "5", "--width", "128", "--height", "128", "--out", str(out),
                      "--no-history"])
    assert code == 0
    (path,) = out.glob("*.png")
    assert "Sampler: LCM, CFG scale: 1," in Image.open(path).text["parameters"]


def test_sampler_benchmark_measures_the_few_step_samplers(demo):
    from engine.benchmark import samplers as bench
    conv = bench.convergence(demo, samplers=("lcm", "euler-a-sgm"), step_counts=(1, 4),
                             prompts=bench.PROMPTS[:1], reference_steps=20)
    assert all(conv.errors[s][1] > 0 and conv.errors[s][4] > 0 for s in ("lcm", "euler-a-sgm"))
    rows = [line for line in bench.render(conv).splitlines()
            if line.startswith(("LCM ", "Euler a SGM Uniform "))]
    assert len(rows) == 4  # errors and seconds, one row each
    # The names fit their column: each row's first number ends under the header's "1".
    header = next(line for line in bench.render(conv).splitlines() if line.startswith("sampler"))
    end = header.index("1")
    assert all(row[end].isdigit() and row[end + 1] == " " for row in rows), rows


def test_a_batch_grid_axis_takes_them_by_either_name():
    from engine.batch.axes import parse_axis
    axis = parse_axis("sampler=lcm,Euler a SGM Uniform,euler-sgm")
    base = GenerationRequest("a cat", model="demo")
    assert [axis.apply(base, i).sampler for i in range(3)] == ["lcm", "euler-a-sgm", "euler-sgm"]
    assert axis.label(0) == "Sampler: LCM"
