"""Dropping a crafted PNG on the window: the form is filled only from a wholly valid recipe.

Seen before (issue 13): 10 of 56 crafted PNGs raised (int('abc'), OverflowError for Steps 1e20
or JSON 1e400, a prompt that is not text) and left the form half-filled with no message;
a NaN or infinite CFG silently became 30 and Steps -1 became 1.
"""
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin

from engine.pngmeta import JSON_KEY, PARAMETERS_KEY
from engine.request import GenerationRequest
from tests.gui.test_image_drops import _drop

GOOD = {"prompt": "a fox", "negative_prompt": "", "seed": 7, "steps": 12, "guidance": 6.5,
        "width": 256, "height": 256, "batch": 1, "model": "sd-v1.4", "mixed_precision": False,
        "xla": False, "preview": True}


def crafted(path, chunks):
    info = PngImagePlugin.PngInfo()
    for key, text in chunks.items():
        info.add_itxt(key, text)
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(path, pnginfo=info)
    return path


def ours(**changes):
    return json.dumps({"request": {**GOOD, **changes}, "model_label": "sd-v1.4"})


BAD_DROPS = {
    "seed abc": ({PARAMETERS_KEY: "x\nSteps: 5, Seed: abc"}, "Seed"),
    "steps abc": ({PARAMETERS_KEY: "x\nSteps: abc"}, "Steps"),
    "steps 1e20": ({PARAMETERS_KEY: "x\nSteps: 100000000000000000000"}, "Steps"),
    "steps -1": ({PARAMETERS_KEY: "x\nSteps: -1"}, "Steps"),
    "cfg nan": ({PARAMETERS_KEY: "x\nSteps: 5, CFG scale: nan"}, "CFG scale"),
    "cfg inf": ({PARAMETERS_KEY: "x\nSteps: 5, CFG scale: inf"}, "CFG scale"),
    "json steps 1e400": ({JSON_KEY: ours().replace('"steps": 12', '"steps": 1e400')}, "Steps"),
    "json guidance Infinity": ({JSON_KEY: ours().replace('"guidance": 6.5', '"guidance": Infinity')},
                               "Guidance"),
    "json prompt not text": ({JSON_KEY: ours(prompt=["a", "fox"])}, "Prompt"),
    "json seed text": ({JSON_KEY: ours(seed="7")}, "Seed"),
}


@pytest.mark.parametrize("case", BAD_DROPS)
def test_a_bad_value_is_named_and_the_form_left_alone(qtbot, window, tmp_path, case):
    chunks, label = BAD_DROPS[case]
    before = window.form.request()
    _drop(window, crafted(tmp_path / "bad.png", chunks))
    assert window.form.request() == before
    assert window.banner.isVisible() and window.banner.kind == "error"
    assert label in window.banner.text.text()


def test_every_bad_field_is_listed(qtbot, window, tmp_path):
    _drop(window, crafted(tmp_path / "bad.png", {PARAMETERS_KEY: "x\nSteps: -1, CFG scale: nan, Seed: q"}))
    text = window.banner.text.text()
    assert "Steps" in text and "CFG scale" in text and "Seed" in text


# Values around and beyond every range, and text that is not a number at all.
a1111_value = st.one_of(st.integers(-10, 10**25).map(str), st.floats(allow_nan=True).map(repr),
                        st.text(max_size=12), st.sampled_from(["nan", "inf", "-0", "1e400", "٣"]))
json_value = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                       st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
                       st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3),
                                                                            st.integers(), max_size=2))


@st.composite
def crafted_chunks(draw):
    chunks = {}
    if draw(st.booleans()):
        keys = draw(st.lists(st.sampled_from(["Steps", "CFG scale", "Seed", "Size", "Model",
                                              "Sampler"]), min_size=1, max_size=5))
        pairs = ", ".join(f"{key}: {draw(a1111_value)}" for key in keys)
        chunks[PARAMETERS_KEY] = f"{draw(st.text(max_size=20))}\nSteps: {draw(a1111_value)}, {pairs}"
    if draw(st.booleans()) or not chunks:
        request = dict(GOOD)
        for name in draw(st.lists(st.sampled_from(sorted(GOOD)), max_size=4)):
            request[name] = draw(json_value)
        chunks[JSON_KEY] = json.dumps({"request": request, "batch_seed": draw(json_value)})
    return chunks


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chunks=crafted_chunks())
def test_any_crafted_recipe_fills_a_valid_form_or_none(qtbot, window, tmp_path, chunks):
    before = window.form.request()
    _drop(window, crafted(tmp_path / "fuzz.png", chunks))
    after = window.form.request()
    if after != before:
        # Only what the prompt box itself may flag (emptiness, words a model lacks) is left.
        assert [p.field for p in after.validate() if p.field != "prompt"] == []
    else:
        assert window.banner.isVisible()
    window.form.set_request(GenerationRequest(prompt="reset", model=before.model))
