"""Hires fix: A1111's size and step rules, the upscalers, the two passes as one job on the
demo model (progress, cancel, preview), and the recipe in the A1111 text."""
from __future__ import annotations

import numpy as np
import pytest

from engine.events import CancelToken
from engine.hires.upscale import centre_crop, resize_latent, resize_pixels
from engine.pngmeta import format_parameters, parse_parameters
from engine.recipe import from_request_dict
from engine.request import HIRES_UPSCALERS, GenerationRequest, Hires


def request(**hires) -> GenerationRequest:
    return GenerationRequest("a red circle", model="demo", seed=7, steps=6, width=256, height=256,
                             hires=Hires(**{"steps": 3, "denoise": 0.5, **hires}))


# ---------------------------------------------------------------- A1111's rules

@pytest.mark.parametrize("hires, size, target", [
    (Hires(scale=2), (512, 384), (1024, 768)),
    (Hires(scale=1.5), (512, 512), (768, 768)),
    (Hires(scale=1.3), (512, 512), (640, 640)),  # 665.6 rounded to our multiple of 64
    (Hires(width=1024), (512, 384), (1024, 768)),  # height follows the shape
    (Hires(height=1024), (512, 256), (2048, 1024)),
    (Hires(width=1024, height=512), (512, 512), (1024, 512)),  # covered, then cropped
])
def test_target_size_follows_a1111(hires, size, target):
    assert hires.target_size(*size) == target


def test_both_sides_given_covers_them_before_the_crop():
    assert Hires(width=1024, height=512).upscaled_size(512, 512) == (1024, 1024)


# A1111 stretches the schedule to steps / strength (the last 999 guards a strength of 1).
@pytest.mark.parametrize("steps, denoise, length", [(10, 0.7, 14), (20, 0.3, 66), (7, 0.45, 15),
                                                    (15, 1.0, 15), (1, 0.05, 20)])
def test_second_pass_runs_exactly_its_steps(steps, denoise, length):
    assert Hires(steps=steps, denoise=denoise).schedule(25) == (length, length - steps)


def test_zero_hires_steps_means_as_many_as_the_first_pass():
    r = request(steps=0)
    assert r.hires.second_pass_steps(r.steps) == 6
    assert r.steps_to_run() == 12


@pytest.mark.parametrize("changes, field", [
    ({"scale": 5.0}, "hires_scale"), ({"denoise": 1.5}, "hires_denoise"),
    ({"steps": -1}, "hires_steps"), ({"upscaler": "R-ESRGAN 4x+"}, "hires_upscaler"),
    ({"width": 1000}, "hires_width"), ({"scale": 4.0}, "hires"),  # 256 x 4 fits; see below
])
def test_bad_hires_settings_are_named(changes, field):
    base = request().replace(width=1024) if changes == {"scale": 4.0} else request()
    problems = base.replace(hires=base.hires.replace(**changes)).validate()
    assert [p.field for p in problems] == [field]
    assert problems[0].message.endswith(".")


def test_hires_and_a_source_image_do_not_mix():
    r = request().replace(source=__import__("engine.request", fromlist=["Source"]).Source("a" * 64))
    assert [p.field for p in r.validate()] == ["hires"]


def test_a_request_round_trips_through_its_dict():
    r = request(upscaler="Lanczos", width=512)
    assert GenerationRequest.from_dict(r.to_dict()) == r
    assert from_request_dict(r.to_dict()).request() == r.replace(batch=1)


# ---------------------------------------------------------------- A1111 text

@pytest.mark.parametrize("hires, text", [
    (Hires(scale=2, steps=10, denoise=0.6, upscaler="Latent"),
     "Hires upscale: 2, Hires steps: 10, Hires upscaler: Latent, Denoising strength: 0.6"),
    (Hires(width=1024, height=0, denoise=0.45, upscaler="Lanczos"),
     "Hires resize: 1024x0, Hires upscaler: Lanczos, Denoising strength: 0.45"),
    (Hires(scale=1.5, upscaler="Latent (nearest)"),
     "Hires upscale: 1.5, Hires upscaler: Latent (nearest), Denoising strength: 0.7"),
])
def test_the_a1111_text_writes_and_reads_the_hires_fix(hires, text):
    r = GenerationRequest("a cat", seed=3, hires=hires)
    written = format_parameters(r, 3, "sd-v1.4")
    assert written.endswith(text)
    parsed = parse_parameters(written)
    assert parsed.problems == [] and parsed.extra == {}
    assert parsed.to_request().hires == hires


def test_a1111_text_with_an_upscaler_we_lack_names_it_and_keeps_the_rest():
    parsed = parse_parameters("a cat\nSteps: 20, Sampler: Euler, Seed: 1, Size: 512x512, "
                              "Hires upscale: 2, Hires upscaler: R-ESRGAN 4x+, Denoising strength: 0.5")
    assert "R-ESRGAN 4x+" in parsed.problems[0].message
    assert parsed.seed == 1 and "hires" not in parsed.recipe.values


def test_a1111_text_without_hires_turns_it_off():
    parsed = parse_parameters("a cat\nSteps: 20, Sampler: Euler, Seed: 1, Size: 512x512")
    assert parsed.to_request(request()).hires is None


def test_an_old_json_recipe_has_no_hires_fix():
    old = request().to_dict()
    del old["hires"]
    assert from_request_dict(old).request(request()).hires is None


# ---------------------------------------------------------------- upscalers

def test_latent_nearest_repeats_cells_as_a1111():
    latent = np.arange(2 * 3 * 4, dtype=np.float32).reshape(1, 2, 3, 4)
    up = resize_latent(latent, 4, 6, "Latent (nearest)")
    assert np.array_equal(up, latent.repeat(2, axis=1).repeat(2, axis=2))


def test_latent_bilinear_keeps_a_constant_and_a_ramp_in_range():
    flat = np.full((1, 8, 8, 4), 0.3, np.float32)
    assert np.allclose(resize_latent(flat, 16, 16, "Latent"), 0.3, atol=1e-6)
    ramp = np.broadcast_to(np.linspace(-1, 1, 8, dtype=np.float32)[None, None, :, None], (1, 8, 8, 4))
    up = resize_latent(ramp, 16, 16, "Latent (bicubic)")
    assert np.all(np.diff(up[0, 0, :, 0]) >= -1e-6)  # still increasing


def test_every_pixel_upscaler_and_crop():
    pixels = np.random.default_rng(0).integers(0, 256, (2, 8, 8, 3), dtype=np.uint8)
    for name in ("Lanczos", "Nearest"):
        assert resize_pixels(pixels, 16, 24, name).shape == (2, 16, 24, 3)
    assert centre_crop(np.zeros((1, 10, 20, 3)), 10, 16).shape == (1, 10, 16, 3)
    with pytest.raises(ValueError):
        resize_pixels(pixels, 16, 16, "Latent")


# ---------------------------------------------------------------- the run, on the demo model

@pytest.fixture(scope="module")
def engine():
    from engine.pipeline import Engine
    return Engine()


@pytest.mark.parametrize("upscaler", ["Latent", "Latent (nearest)", "Lanczos"])
def test_both_passes_report_as_one_job_with_previews(engine, upscaler):
    seen = []
    result = engine.generate(request(upscaler=upscaler), on_progress=seen.append)
    assert result.images[0].pixels.shape == (512, 512, 3)
    denoising = [p for p in seen if p.phase == "denoising"]
    assert [p.step for p in denoising] == list(range(1, 10))  # 6 + 3
    assert {p.total for p in seen} == {9}
    assert all(p.preview is not None for p in denoising)
    assert seen[-1].phase == "decoding"
    assert {"first_pass", "upscale", "second_pass"} <= set(result.timings)


def test_cancel_in_the_second_pass_lands_within_one_step(engine):
    token, steps = CancelToken(), []

    def on_progress(progress):
        if progress.phase == "denoising":
            steps.append(progress.step)
            if progress.step == 7:
                token.cancel()
    result = engine.generate(request(), on_progress=on_progress, cancel=token)
    assert result.cancelled and not result.images
    assert steps[-1] == 7


def test_cancel_in_the_first_pass_skips_the_second(engine):
    token, steps = CancelToken(), []

    def on_progress(progress):
        if progress.phase == "denoising":
            steps.append(progress.step)
            token.cancel()
    assert engine.generate(request(), on_progress=on_progress, cancel=token).cancelled
    assert steps == [1]


def test_the_second_pass_changes_the_upscaled_first_pass_less_at_lower_strength(engine):
    first = engine.generate(request().replace(hires=None)).images[0].pixels
    low = engine.generate(request(denoise=0.2, upscaler="Lanczos")).images[0].pixels.astype(float)
    high = engine.generate(request(denoise=0.9, upscaler="Lanczos")).images[0].pixels.astype(float)
    upscaled = resize_pixels(first[None], 512, 512)[0].astype(float)
    assert np.abs(low - upscaled).mean() < np.abs(high - upscaled).mean()


def test_every_upscaler_name_runs(engine):
    for name in HIRES_UPSCALERS:
        r = request(upscaler=name, steps=1).replace(steps=1)
        assert engine.generate(r).images[0].pixels.shape == (512, 512, 3)


def test_the_size_note_follows_the_family_table():
    from engine.hires.advice import size_note
    assert "Hires fix" in size_note("sd-v1.4", 1024, 512, hires_on=False)
    assert size_note("sd-v1.4", 768, 768, hires_on=False) is None
    assert size_note("sd-v2.1", 1024, 1024, hires_on=False) is None
    assert size_note("sd-v1.4", 1024, 1024, hires_on=True) is None
    assert size_note("demo", 1024, 1024, hires_on=False) is None


def test_upscale_x2_plain_is_a_lanczos_resize_with_no_model_built(tmp_path):
    from PIL import Image

    from engine.hires.upscale_image import REPAINT_STRENGTH, upscale_request
    from engine.img2img.images import ImageProblem
    from engine.img2img.store import SourceStore
    from engine.pipeline import Engine
    store = SourceStore(tmp_path / "sources")
    pixels = np.random.default_rng(4).integers(0, 256, (128, 192, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "a.png")
    recipe = request().replace(hires=Hires())
    plain = upscale_request(store, tmp_path / "a.png", recipe, repaint=False)
    assert (plain.width, plain.height, plain.hires, plain.source.strength) == (384, 256, None, 0.0)
    assert upscale_request(store, tmp_path / "a.png", recipe, repaint=True).source.strength \
        == REPAINT_STRENGTH
    fresh = Engine(sources=store)
    made = fresh.generate(plain).images[0].pixels
    assert fresh.loaded_backend() is None
    assert np.array_equal(made, resize_pixels(pixels[None], 256, 384)[0])
    Image.fromarray(np.zeros((600, 600, 3), np.uint8)).save(tmp_path / "big.png")
    with pytest.raises(ImageProblem, match="at most 1024"):
        upscale_request(store, tmp_path / "big.png", recipe, repaint=False)
