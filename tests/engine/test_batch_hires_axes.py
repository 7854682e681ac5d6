"""Grid axes for hires fix: each turns it on, changes one of its settings, labels as A1111."""
from __future__ import annotations

import pytest

from engine.batch.axes import parse_axes, parse_axis
from engine.batch.errors import BatchError
from engine.batch.plan import plan_batch
from engine.batch.prompts import parse_prompts
from engine.request import GenerationRequest, Hires

BASE = GenerationRequest("x", model="demo", seed=7, steps=4, width=128, height=128)


def test_hires_axes_turn_the_fix_on_and_change_one_setting():
    axes = parse_axes(["hires-scale=1.5,2", "hires-denoise=0.3,0.6"])
    plan = plan_batch(parse_prompts("a red circle\n"), axes, BASE)
    got = [(j.request.hires.scale, j.request.hires.denoise) for j in plan.jobs]
    assert got == [(1.5, 0.3), (2.0, 0.3), (1.5, 0.6), (2.0, 0.6)]
    assert all(j.request.hires.upscaler == Hires().upscaler for j in plan.jobs)
    assert parse_axis("hires-scale=2").label(0) == "Hires upscale: 2"


def test_hires_steps_and_upscaler_axes_keep_the_rest_of_a_given_fix():
    base = BASE.replace(hires=Hires(scale=1.5, denoise=0.4))
    steps = parse_axis("hires-steps=0,5")
    assert [steps.apply(base, i).hires for i in range(2)] == [
        Hires(scale=1.5, denoise=0.4, steps=0), Hires(scale=1.5, denoise=0.4, steps=5)]
    upscaler = parse_axis("hires-upscaler=latent-nearest,Lanczos")
    assert upscaler.values == ("Latent (nearest)", "Lanczos")
    assert upscaler.label(0) == "Hires upscaler: Latent (nearest)"


def test_a_bad_upscaler_is_named():
    with pytest.raises(BatchError) as caught:
        parse_axis("hires-upscaler=ESRGAN")
    assert "no upscaler 'ESRGAN'" in caught.value.problems[0]
