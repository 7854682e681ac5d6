"""The form and Generate: validation before anything runs, token counts, shortcuts,
persistence (the first run: test_first_run.py)."""
from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import Qt

from gui.mainwindow import MainWindow
from tests.gui.fakes import FakeEngine, FakeHistory, fake_services


def test_empty_prompt_disables_generate_and_says_why(qtbot, window):
    # A fresh form is not scolded: a quiet hint, no red message under the prompt.
    assert not window.generation.generate_button.isEnabled()
    assert window.generation.why_disabled.property("tone") == "hint"
    assert not window.form.errors["prompt"].isVisible()
    assert window.form.prompt_tokens.text() == "0/75 tokens"
    window.form.prompt.setPlainText("   ")
    assert not window.generation.generate_button.isEnabled()
    assert "Prompt is empty" in window.generation.why_disabled.text()
    assert "Prompt is empty" in window.generation.generate_button.toolTip()
    assert window.form.errors["prompt"].isVisible()
    window.form.prompt.setPlainText(" ".join(["word"] * 80))  # long is fine: read in chunks
    window.form.width_box.setValue(100)
    window.form.height_box.setValue(100)
    assert window.generation.why_disabled.property("tone") == "error"
    assert "(and 1 more)" in window.generation.why_disabled.text()
    window.form.width_box.setValue(128)
    window.form.height_box.setValue(128)
    window.form.prompt.setPlainText("   ")
    qtbot.keyClick(window.form.prompt, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert window.worker.queue.jobs() == [] and window.progress.current_job is None

    window.form.prompt.setPlainText("a cat")
    assert window.generation.generate_button.isEnabled()
    assert not window.generation.why_disabled.isVisible()
    assert not window.form.errors["prompt"].isVisible()


def test_stable_diffusion_counts_chunks_of_75_and_has_no_limit(qtbot, window):
    """A1111's counter: tokens used over the capacity of the chunks they fill; a long prompt
    takes another chunk, never a red 'over the limit'."""
    window.model_chooser.select("sd-v1.4")
    window.form.prompt.setPlainText("one two three")
    assert window.form.prompt_tokens.text() == "3/75 tokens"  # fake: a word a token
    assert window.form.prompt_tokens.property("over") is False
    assert "chunks of 75" in window.form.prompt_tokens.toolTip()
    assert "BREAK" in window.form.prompt_tokens.toolTip()
    window.form.prompt.setPlainText(" ".join(["word"] * 80))
    assert window.form.prompt_tokens.text() == "80/150 tokens"
    assert window.form.prompt_tokens.property("over") is False
    assert not window.form.errors["prompt"].isVisible()
    assert window.generation.generate_button.isEnabled()
    window.form.prompt.setPlainText("a cat BREAK a dog")
    assert window.form.prompt_tokens.text() == "4/150 tokens"
    window.form.negative.setPlainText("blurry")
    assert window.form.negative_tokens.text() == "1/75 tokens"
    window.form.negative.setPlainText("")
    assert window.form.negative_tokens.text() == "0/75 tokens"


def test_the_demo_model_keeps_its_limit_of_32_tokens(qtbot, window):
    window.model_chooser.select("demo")
    window.form.prompt.setPlainText("a red circle")
    assert window.form.prompt_tokens.text() == "5/32 tokens"  # its own counter: start and end too
    assert window.form.prompt_tokens.property("over") is False
    window.form.prompt.setPlainText(" ".join(["a red circle"] * 12))
    assert window.form.prompt_tokens.text() == "38/32 tokens \u2014 6 over the limit"
    assert window.form.prompt_tokens.property("over") is True
    assert "Remove 6" in window.form.errors["prompt"].text()
    assert not window.generation.generate_button.isEnabled()


def test_a_counter_that_fails_shows_a_dash_and_typing_goes_on(qtbot, window, engine):
    window.model_chooser.select("sd-v1.4")

    def broken(model_id, text):
        raise RuntimeError("tokenizer gone")
    engine.prompt_length = broken
    window.form.count_tokens_with(engine)
    window.form.prompt.setPlainText("a cat")
    assert window.form.prompt_tokens.text() == "\u2013/75 tokens"
    assert window.generation.generate_button.isEnabled()


def test_the_count_waits_for_the_vocabulary_of_a_loaded_engine(qtbot, window, engine):
    window.model_chooser.select("sd-v1.4")
    engine.tokenizer_ready = False  # the engine answers None until its vocabulary is there
    window.form.prompt.setPlainText("a cat")
    assert window.form.prompt_tokens.text() == "\u2013/75 tokens"
    assert "once the model's tokenizer has loaded" in window.form.prompt_tokens.toolTip()
    engine.tokenizer_ready = True
    window.form.prompt.setPlainText("a cat sat")
    assert window.form.prompt_tokens.text() == "3/75 tokens"


def test_a_malformed_lora_tag_is_named_under_the_prompt(qtbot, window):
    window.model_chooser.select("sd-v1.4")
    window.form.prompt.setPlainText("a castle <lora:style:0.8>")
    assert window.generation.generate_button.isEnabled()
    qtbot.keyClicks(window.form.prompt, " <lora:style:abc>")
    # The engine's own rule (engine/prompt_rules.py), shown where the other prompt problems are.
    assert "<lora:style:abc>" in window.form.errors["prompt"].text()
    assert "not a number" in window.form.errors["prompt"].text()
    assert window.form.errors["prompt"].isVisible()
    assert not window.generation.generate_button.isEnabled()
    assert "not a number" in window.generation.why_disabled.text()
    window.form.prompt.setPlainText("a castle <lora:style:0.6>")
    assert not window.form.errors["prompt"].isVisible()
    assert window.generation.generate_button.isEnabled()


def test_sizes_off_the_64_grid_are_named_under_the_field(qtbot, window):
    window.form.prompt.setPlainText("a cat")
    window.form.width_box.setValue(100)
    assert window.form.size_preset.currentText() == "Custom\u2026"
    assert "multiple of 64" in window.form.errors["width"].text()
    assert "such as 128" in window.form.errors["width"].text()
    assert not window.generation.generate_button.isEnabled()
    window.form.width_box.setValue(640)
    assert not window.form.errors["width"].isVisible()
    assert window.generation.generate_button.isEnabled()
    window.form.size_preset.setCurrentIndex(0)
    assert (window.form.width_box.value(), window.form.height_box.value()) == (512, 512)


def test_token_count_waits_for_the_engine_without_blocking_the_window(qtbot, tmp_path, settings):
    """The window is up and usable while the engine (TensorFlow, in the app) still loads."""
    gate = threading.Event()
    engine = FakeEngine()

    def slow_factory():
        gate.wait(10)  # stands in for importing TensorFlow on the worker thread
        return engine
    services = fake_services(engine, FakeHistory(tmp_path / "h"))
    services.engine_factory = slow_factory
    w = MainWindow(services, settings)
    qtbot.addWidget(w)
    w.show()
    try:
        w.form.prompt.setPlainText("a cat")
        assert w.form.prompt_tokens.text() == "\u2013/75 tokens"
        assert "once the model's tokenizer has loaded" in w.form.prompt_tokens.toolTip()
        assert "Loading the engine" in w.engine_status.text() or "Starting" in w.engine_status.text()
        job = w.generation.generate()  # queued; runs once the engine is there
        assert job is not None
        gate.set()
        qtbot.waitUntil(lambda: w.form.prompt_tokens.text() == "2/75 tokens", timeout=5000)
        assert w.engine_status.text() == "Engine ready \u00b7 JAX \u00b7 Fake device"
        qtbot.waitUntil(lambda: w.gallery.model.rowCount() == 1, timeout=5000)
    finally:
        gate.set()
        w.close()


def test_settings_and_geometry_persist(qtbot, services, settings):
    first = MainWindow(services, settings)
    qtbot.addWidget(first)
    first.show()
    first.form.prompt.setPlainText("persistent prompt")
    first.form.negative.setPlainText("nope")
    first.form.seed.set_value(4_294_967_295)
    first.form.seed.lock.setChecked(True)
    first.form.steps.setValue(17)
    first.form.select_sampler("euler-a")
    first.form.guidance.setValue(3.5)
    first.form.clip_skip.set_value(2)
    first.form.set_size(768, 512)
    first.form.batch.setValue(3)
    first.model_chooser.select("sd-v1.4")
    first.form.xla.setChecked(True)
    first.resize(1000, 630)  # the window keeps a minimum of 900x600
    size = (first.width(), first.height())
    assert size[1] == 630
    first.close()

    second = MainWindow(services, settings)
    qtbot.addWidget(second)
    try:
        r = second.form.request()
        assert (r.prompt, r.negative_prompt, r.seed, r.steps, r.guidance, r.width, r.height,
                r.batch, r.model, r.xla, r.mixed_precision) == (
            "persistent prompt", "nope", 4_294_967_295, 17, 3.5, 768, 512, 3, "sd-v1.4",
            True, False)
        assert r.sampler == "euler-a" and second.form.sampler.currentText() == "Euler a"
        assert r.clip_skip == 2 and second.form.clip_skip.spin.value() == 2
        assert second.form.seed.locked
        # Width is clamped to the 800-pixel offscreen screen; the height shows the restore.
        assert second.height() == size[1]
    finally:
        second.close()


def test_a_form_saved_before_samplers_comes_back_on_ddim(qtbot, services, settings):
    first = MainWindow(services, settings)
    qtbot.addWidget(first)
    first.close()
    settings.remove("form/sampler")
    second = MainWindow(services, settings)
    qtbot.addWidget(second)
    try:
        assert second.form.request().sampler == "ddim"
    finally:
        second.close()


def test_words_the_demo_model_cannot_draw_are_named_before_running(qtbot, window):
    window.model_chooser.select("demo")
    window.form.prompt.setPlainText("a red circle")
    assert window.generation.generate_button.isEnabled()
    window.form.negative.setPlainText("blurry watermark, red")
    # The engine's own rule (engine/prompt_rules.py): the same words it would refuse.
    assert 'does not know "blurry", "watermark"' in window.form.errors["negative_prompt"].text()
    assert not window.generation.generate_button.isEnabled()
    window.model_chooser.select("sd-v1.4")  # Stable Diffusion reads any words
    assert window.generation.generate_button.isEnabled()


def test_typing_a_size_beyond_the_limit_keeps_it_and_says_why(qtbot, window):
    box = window.form.width_box
    box.clear()
    box.lineEdit().selectAll()
    qtbot.keyClicks(box.lineEdit(), "4096")
    assert box.value() == 4096
    window.form.revalidate()
    assert window.form.errors["width"].isVisible()
    assert "1024" in window.form.errors["width"].text()


def test_emoji_the_model_cannot_read_are_named_not_dropped(qtbot, window):
    """The demo model reads only its own words: an emoji is named as one it does not know
    (engine/prompt_rules.py, the engine's own rule), never silently left out."""
    window.model_chooser.select("demo")
    window.form.prompt.setPlainText("a red circle \U0001F98A")
    assert 'does not know "\U0001F98A"' in window.form.errors["prompt"].text()
    assert not window.generation.generate_button.isEnabled()
    window.form.prompt.setPlainText("\U0001F98A\U0001F338")
    assert "knows none of the words" in window.form.errors["prompt"].text()
    # Stable Diffusion's tokenizer reads emoji (CLIP's byte-level BPE has tokens for them).
    window.model_chooser.select("sd-v1.4")
    assert window.generation.generate_button.isEnabled()


def test_clip_skip_goes_into_the_request_and_is_stable_diffusion_only(qtbot, window):
    form = window.form
    window.model_chooser.select("sd-v1.4")
    assert form.request().clip_skip == 1
    assert (form.clip_skip.spin.minimum(), form.clip_skip.spin.maximum()) == (1, 12)
    assert "layer before last" in form.clip_skip.spin.toolTip()
    form.prompt.setPlainText("a cat")
    form.clip_skip.spin.setValue(2)
    assert form.request().clip_skip == 2
    assert window.generation.generate_button.isEnabled()

    # The demo's text model has no layers to skip: greyed with a note, sent as 1 (so no
    # recipe claims a skip), and the person's 2 is back on Stable Diffusion.
    window.model_chooser.select("demo")
    assert not form.clip_skip.spin.isEnabled()
    assert form.clip_skip.note.isVisible()
    assert form.request().clip_skip == 1
    assert not form.network_buttons.buttons[0].isEnabled()
    window.model_chooser.select("sd-v1.4")
    assert form.clip_skip.spin.isEnabled() and not form.clip_skip.note.isVisible()
    assert form.request().clip_skip == 2
    assert all(button.isEnabled() for button in form.network_buttons.buttons)


def test_clip_skip_comes_with_a_reused_image_and_a_dropped_recipe(qtbot, window, history, tmp_path):
    from engine.pngmeta import PARAMETERS_KEY
    from engine.request import GenerationRequest
    from tests.gui.test_dropped_recipes import crafted
    from tests.gui.test_image_drops import _drop

    entry = history.add_entry(GenerationRequest("a fox", model="sd-v1.4", clip_skip=3,
                                                width=256, height=256), tmp_path / "x.png")
    window.generation.reuse(entry)
    assert window.form.clip_skip.spin.value() == 3 and window.form.request().clip_skip == 3

    # A1111's own text, as model sites share it; a recipe without the key means 1.
    _drop(window, crafted(tmp_path / "a1111.png", {PARAMETERS_KEY: (
        "a castle\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 5, Size: 512x512, Clip skip: 2")}))
    assert window.form.request().clip_skip == 2
    _drop(window, crafted(tmp_path / "plain.png", {PARAMETERS_KEY: (
        "a castle\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 5, Size: 512x512")}))
    assert window.form.request().clip_skip == 1


@pytest.mark.parametrize("name, typed, limit", [("steps", "300", "200"), ("batch", "12", "8"),
                                                ("guidance", "45", "30")])
def test_a_number_beyond_its_limit_stays_as_typed_and_the_limit_is_said_under_it(
        qtbot, window, name, typed, limit):
    """Issue 31, item 8: typing 300 into Steps gave 30 (the box took "30" and refused the
    last "0"), and Batch stopped at 8, with no word of why."""
    window.form.prompt.setPlainText("a red circle")
    box = getattr(window.form, name)
    box.setFocus()
    box.lineEdit().selectAll()
    qtbot.keyClicks(box.lineEdit(), typed)
    assert box.lineEdit().text().startswith(typed)
    error = window.form.errors[name]
    assert error.isVisible() and limit in error.text(), error.text()
    assert not window.generation.generate_button.isEnabled()
    window.form.prompt.setFocus()  # leaving the field keeps it, and its message
    box.clearFocus()
    assert box.lineEdit().text().startswith(typed) and error.isVisible()
    box.setFocus()
    box.lineEdit().selectAll()
    qtbot.keyClicks(box.lineEdit(), "5")
    assert not error.isVisible() and window.generation.generate_button.isEnabled()
