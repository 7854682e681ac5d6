"""A few-step LoRA named in the prompt (or a few-step checkpoint) gets its settings
offered under the form; one click puts them in, and the person can change them after."""
from __future__ import annotations

import numpy as np

from engine.models.safetensors_file import write_safetensors


def _lora(name: str, metadata: dict) -> None:
    from engine.models import extra_networks
    folder = extra_networks.default_dir("lora", create=True)
    write_safetensors(folder / f"{name}.safetensors",
                      {"lora_unet_x.lora_down.weight": np.zeros((2, 4), np.float16)}, metadata)


def test_an_lcm_lora_in_the_prompt_offers_its_settings_in_one_click(qtbot, window):
    _lora("offer_test_lcm", {"ss_output_name": "lcm_lora_sd15"})
    form, note = window.form, window.generation.model_note
    window.model_chooser.select("sd-v1.4")
    form.prompt.setPlainText("a lighthouse at dusk")
    assert not note.preset_button.isVisible()

    form.prompt.setPlainText("a lighthouse at dusk <lora:offer_test_lcm:1>")
    qtbot.waitUntil(note.preset_button.isVisible, timeout=3000)
    assert "LCM-LoRA" in note.preset_text.text() and "4 steps" in note.preset_text.text()
    assert "metadata" in note.preset_button.toolTip()
    form.steps.setValue(30)
    form.guidance.setValue(7.5)
    note.preset_button.click()
    request = form.request()
    assert (request.steps, request.guidance, request.sampler) == (4, 1.5, "lcm")
    assert form.sampler.currentText() == "LCM"

    # Overridable: a changed value stays, and the offer stays for another click.
    form.steps.setValue(6)
    assert form.request().steps == 6 and note.preset_button.isVisible()

    form.prompt.setPlainText("a lighthouse at dusk")
    assert not note.preset_button.isVisible()


def test_an_ordinary_lora_offers_nothing_and_the_demo_note_stays(qtbot, window):
    _lora("offer_test_style", {"ss_output_name": "watercolour_style"})
    window.model_chooser.select("demo")
    window.form.prompt.setPlainText("a red circle <lora:offer_test_style:1>")
    note = window.generation.model_note
    assert note.isVisible() and note.text.isVisible()  # the demo's own word
    assert not note.preset_button.isVisible()


def test_a_few_step_checkpoint_is_offered_without_any_lora(qtbot, window):
    from engine.models.few_step import FewStep
    offer = window.generation.few_step
    offer.lookup = lambda model_id, prompt: (
        FewStep("SD-Turbo", 1, 1.0, "euler-a-sgm", "its metadata (modelspec.title)")
        if model_id == "sd-v1.4" else None)
    offer._key = None
    window.model_chooser.select("sd-v1.4")
    window.form.prompt.setPlainText("a cat")
    note = window.generation.model_note
    qtbot.waitUntil(note.preset_button.isVisible, timeout=3000)
    note.preset_button.click()
    request = window.form.request()
    assert (request.steps, request.guidance, request.sampler) == (1, 1.0, "euler-a-sgm")
    assert window.form.sampler.currentText() == "Euler a SGM Uniform"
