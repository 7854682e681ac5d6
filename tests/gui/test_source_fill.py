"""The source panel's "Masked content" choice (issue 31, item 1): shown where a part is
repainted (a painted mask or outpaint margins), sent with Generate, kept with the form,
and set back from a reused recipe (old recipes read as "Original")."""
from __future__ import annotations

import json

import numpy as np
from PIL import Image

from engine.request import DEFAULT_INPAINT_FILL, INPAINT_FILLS, GenerationRequest, Source
from tests.gui.test_mask_editor import drag


def _opened(qtbot, window, tmp_path, **kwargs):
    path = tmp_path / "src.png"
    Image.fromarray(np.full((128, 128, 3), 200, np.uint8)).save(path)
    panel = window.form.source_panel
    panel.open_file(path, **kwargs)
    qtbot.waitUntil(lambda: not panel.busy, timeout=10_000)
    return panel


def test_the_choice_shows_only_where_a_part_is_repainted(qtbot, window, tmp_path):
    panel = _opened(qtbot, window, tmp_path)
    combo = panel.options.fill
    assert [combo.itemData(i) for i in range(combo.count())] == list(INPAINT_FILLS)
    assert combo.currentData() == DEFAULT_INPAINT_FILL
    assert not combo.isVisible()  # the whole image is repainted: nothing to fill
    panel.options.margins["left"].setValue(64)
    assert combo.isVisible()
    panel.options.margins["left"].setValue(0)
    assert not combo.isVisible()
    panel.edit_mask()
    panel.editor.brush_size.setValue(16)
    drag(qtbot, panel.editor.canvas, [(20, 20), (60, 20)])
    panel.editor.close()
    assert combo.isVisible()


def test_the_chosen_fill_goes_with_generate_and_with_the_form(qtbot, window, engine, settings,
                                                             tmp_path):
    panel = _opened(qtbot, window, tmp_path, edit_mask=True)
    panel.editor.brush_size.setValue(16)
    drag(qtbot, panel.editor.canvas, [(20, 20), (60, 20)])
    combo = panel.options.fill
    with qtbot.waitSignal(panel.changed, timeout=2_000):
        combo.setCurrentIndex(combo.findData("latent-nothing"))
    window.form.prompt.setPlainText("a red circle")
    window.form.steps.setValue(2)
    with qtbot.waitSignal(window.progress.job_over, timeout=10_000):
        window.generation.generate()
    assert engine.requests[-1].source.inpaint_fill == "latent-nothing"
    assert panel.saved_state()["inpaint_fill"] == "latent-nothing"
    assert window.form.request().source.inpaint_fill == "latent-nothing"


def test_a_reused_recipe_sets_the_choice_and_an_old_one_reads_as_original(qtbot, window, services,
                                                                        tmp_path):
    from engine.img2img.prepare import prepare
    mask = np.zeros((128, 128), np.uint8)
    mask[:, 64:] = 255
    Image.fromarray(np.full((128, 128, 3), 90, np.uint8)).save(tmp_path / "a.png")
    prepared = prepare(services.sources, tmp_path / "a.png", mask, inpaint_fill="fill")
    panel = window.form.source_panel
    panel.use_source(prepared.source)
    qtbot.waitUntil(lambda: panel.is_set and not panel.busy, timeout=10_000)
    assert panel.options.fill_now() == "fill" and panel.options.fill.isVisible()

    old = json.loads(GenerationRequest("x", source=prepared.source).to_json())["source"]
    del old["inpaint_fill"]
    panel.use_source(Source.from_dict(old))
    qtbot.waitUntil(lambda: not panel.busy, timeout=10_000)
    assert panel.options.fill_now() == "original"
    assert panel.options.fill.currentText() == "Original"
