"""The form's Hires fix section and the size note: what the request gets, what is shown,
what is kept between runs, and a hires job through the queue with the fake engine."""
from __future__ import annotations

import pytest

from engine.request import Hires
from gui.mainwindow import MainWindow
from tests.gui.fakes import FakeEngine


@pytest.fixture
def engine():
    """Held before its fifth step, so a test can look at a running job."""
    return FakeEngine(hold_at_step=5)


def turn_on(form, **values) -> None:
    form.hires.setChecked(True)
    if "scale" in values:
        form.hires.scale.setValue(values["scale"])
    if "denoise" in values:
        form.hires.denoise.setValue(values["denoise"])
    if "steps" in values:
        form.hires.steps.setValue(values["steps"])
    if "upscaler" in values:
        form.hires.upscaler.setCurrentIndex(form.hires.upscaler.findData(values["upscaler"]))


def test_the_section_is_folded_and_off_until_turned_on(qtbot, window):
    form = window.form
    assert form.request().hires is None
    assert not form.hires._body.isVisible()
    turn_on(form, scale=1.5, denoise=0.45, steps=10, upscaler="Lanczos")
    assert form.hires._body.isVisible()
    assert form.request().hires == Hires(scale=1.5, steps=10, denoise=0.45, upscaler="Lanczos")
    form.set_size(512, 512)
    assert form.hires.target.text() == "512\u00d7512 \u2192 768\u00d7768"
    form.hires.setChecked(False)
    assert form.request().hires is None


def test_a_bad_hires_setting_is_named_under_the_section_and_blocks_generate(qtbot, window):
    form = window.form
    form.prompt.setPlainText("a cat")
    turn_on(form, scale=6.0)
    assert "Hires upscale must be" in form.hires.error.text()
    assert form.hires.error.isVisible()
    assert not window.generation.generate_button.isEnabled()
    form.hires.scale.setValue(2.0)
    assert not form.hires.error.isVisible()
    assert window.generation.generate_button.isEnabled()


def test_the_size_note_suggests_hires_fix_above_the_models_size(qtbot, window):
    form = window.form
    window.model_chooser.select("sd-v1.4")
    form.set_size(1024, 1024)
    assert form.size_note.isVisible() and "Hires fix" in form.size_note.text()
    form.set_size(768, 512)
    assert not form.size_note.isVisible()
    form.set_size(1024, 1024)
    turn_on(form)
    assert not form.size_note.isVisible()  # taken: the first pass is what the note is about
    window.model_chooser.select("demo")
    form.hires.setChecked(False)
    assert not form.size_note.isVisible()  # the demo has no such limit


def test_a_recipe_with_hires_fills_the_section(qtbot, window):
    hires = Hires(width=1024, height=0, steps=5, denoise=0.3, upscaler="Latent (nearest)")
    request = window.form.request().replace(prompt="a cat", hires=hires)
    window.form.set_request(request)
    assert window.form.hires.isChecked()
    assert window.form.request().hires == hires
    window.form.set_request(request.replace(hires=None))
    assert window.form.request().hires is None


def test_the_section_persists(qtbot, services, settings):
    first = MainWindow(services, settings)
    qtbot.addWidget(first)
    turn_on(first.form, scale=1.75, denoise=0.55, upscaler="Nearest")
    first.close()
    second = MainWindow(services, settings)
    qtbot.addWidget(second)
    try:
        assert second.form.request().hires == Hires(scale=1.75, denoise=0.55, upscaler="Nearest")
    finally:
        second.close()


def test_a_hires_job_counts_both_passes_on_one_bar(qtbot, window, engine):
    form = window.form
    form.prompt.setPlainText("a cat")
    form.set_size(256, 256)
    form.steps.setValue(4)
    turn_on(form, scale=2.0, steps=3)
    window.generation.generate_button.click()
    qtbot.waitUntil(lambda: len(engine.requests) == 1, timeout=5000)
    assert engine.requests[0].hires == Hires(scale=2.0, steps=3)
    qtbot.waitUntil(engine.holding.is_set, timeout=5000)
    # One bar for both passes: 4 + 3 steps, held in the second pass.
    qtbot.waitUntil(lambda: (window.progress.bar.maximum(), window.progress.bar.value()) == (7, 4),
                    timeout=5000)
    engine.proceed.set()
