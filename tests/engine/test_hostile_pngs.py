"""Every byte of a PNG is someone else's: bad recipes are dropped field by field, never raised.

Each case here was seen to break the history (issue 13): a TypeError, RecursionError or a
hang in `history`, `--search`, `rebuild` or `show`, for one bad file among good ones.
"""
import json
import os
import sqlite3

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

import main
from engine.events import GeneratedImage, GenerationResult
from engine.history import HistoryStore
from engine.pngmeta import JSON_KEY, PARAMETERS_KEY, parse_parameters, read_png_metadata
from engine.request import GenerationRequest

PIXELS = np.full((32, 32, 3), 90, np.uint8)
GOOD_REQUEST = {"prompt": "a fox", "negative_prompt": "blurry", "seed": 7, "steps": 12,
                "guidance": 6.5, "width": 128, "height": 192, "batch": 1, "model": "sd-v1.4",
                "mixed_precision": False, "xla": False, "preview": True}


def crafted(path, chunks):
    info = PngImagePlugin.PngInfo()
    for key, text in chunks.items():
        info.add_itxt(key, text)
    Image.fromarray(PIXELS).save(path, pnginfo=info)
    return path


def ours(request, **payload):
    return json.dumps({"request": request, "batch_seed": 7, "model_label": "sd-v1.4", **payload})


HOSTILE_JSON = {
    "seed as text": ours({**GOOD_REQUEST, "seed": "abc"}),
    "request is a list": json.dumps({"request": [1, 2, 3]}),
    "negative prompt null": ours({**GOOD_REQUEST, "negative_prompt": None}),
    "prompt is a list": ours({**GOOD_REQUEST, "prompt": ["a", "fox"]}),
    "prompt is a number": ours({**GOOD_REQUEST, "prompt": 5}),
    "steps as text": ours({**GOOD_REQUEST, "steps": "abc"}),
    "steps 1e400": ours({**GOOD_REQUEST}).replace('"steps": 12', '"steps": 1e400'),
    "guidance NaN": ours({**GOOD_REQUEST}).replace('"guidance": 6.5', '"guidance": NaN'),
    "seed 2**70": ours({**GOOD_REQUEST, "seed": 2**70}),
    "lone surrogate": ours({**GOOD_REQUEST, "prompt": "\ud800"}),
    "model label a dict": ours(GOOD_REQUEST, model_label={"a": 1}),
    "batch seed negative": ours(GOOD_REQUEST, batch_seed=-1),
    "nested 100,000 deep": '{"request": ' + "[" * 100_000 + "]" * 100_000 + "}",
    "nested 100,000 deep, unclosed": "[" * 100_000,
    "not an object": "5",
}


@pytest.mark.parametrize("case", HOSTILE_JSON)
def test_hostile_json_chunk_reads_without_raising(tmp_path, case):
    path = crafted(tmp_path / "x.png", {JSON_KEY: HOSTILE_JSON[case]})
    meta = read_png_metadata(path, verify=True)
    assert (meta.width, meta.height) == (32, 32)
    if meta.request is not None:
        assert meta.request.validate() == [] or not meta.request.prompt.strip()
        assert isinstance(meta.request.prompt, str) and isinstance(meta.request.seed, int)


def test_a_bad_seed_does_not_lose_the_prompt(tmp_path):
    path = crafted(tmp_path / "x.png", {JSON_KEY: HOSTILE_JSON["seed as text"]})
    meta = read_png_metadata(path)
    assert meta.source == "sd_desk"
    assert meta.request.prompt == "a fox" and meta.request.steps == 12
    assert meta.seed is None
    assert [p.field for p in meta.problems] == ["seed"]


def test_each_bad_field_falls_back_on_the_parameters_chunk(tmp_path):
    path = crafted(tmp_path / "x.png", {
        JSON_KEY: ours({**GOOD_REQUEST, "seed": "abc", "prompt": 5}),
        PARAMETERS_KEY: "a fox in text\nSteps: 3, Seed: 99, Size: 128x128",
    })
    meta = read_png_metadata(path)
    assert meta.source == "sd_desk"
    assert (meta.request.prompt, meta.seed, meta.request.steps) == ("a fox in text", 99, 12)
    assert meta.problems == []


ADVERSARIAL_PARAMETERS = {
    "Steps 1e20": ("x\nSteps: 100000000000000000000, Seed: 3", "steps"),
    "Steps -1": ("x\nSteps: -1, Seed: 3", "steps"),
    "Steps abc": ("x\nSteps: abc, Seed: 3", "steps"),
    "CFG nan": ("x\nSteps: 5, CFG scale: nan", "guidance"),
    "CFG inf": ("x\nSteps: 5, CFG scale: inf", "guidance"),
    "CFG 1e400": ("x\nSteps: 5, CFG scale: 1e400", "guidance"),
    "Seed Arabic digits": ("x\nSteps: 5, Seed: \u0665\u0665", "seed"),
    "Size huge": ("x\nSteps: 5, Size: 99999999x99999999", "width"),
}


@pytest.mark.parametrize("case", ADVERSARIAL_PARAMETERS)
def test_out_of_range_a1111_values_are_named_not_clamped(case):
    text, field = ADVERSARIAL_PARAMETERS[case]
    parsed = parse_parameters(text)
    assert parsed.prompt == "x"
    assert field in [p.field for p in parsed.problems]
    assert getattr(parsed, field) is None
    assert parsed.to_request().validate() == []


def test_steps_line_followed_by_a_megabyte_of_spaces_parses():
    """The old key pattern backtracked over every space for every position: a minute at
    125 KiB, so this megabyte would not finish; a linear split reads it at once."""
    parsed = parse_parameters("a fox\nSteps: 5, a" + " " * (1 << 20) + "b")
    # A piece with no key belongs to the value before it, as in a short line.
    assert parsed.prompt == "a fox" and parsed.extra == {"Steps": "5, a" + " " * (1 << 20) + "b"}
    assert parsed.steps is None and [p.field for p in parsed.problems] == ["steps"]


@pytest.mark.parametrize("filler", [" " * (1 << 20) + "b", "a" * (1 << 20), "a" + " " * (1 << 20) + ":", ", a" * (1 << 18),
                                    ",:" * (1 << 18), "Seed: 1, " * (1 << 16),
                                    'Model: "' + "\\\"" * (1 << 18)])
def test_adversarial_settings_lines_parse(filler):
    parsed = parse_parameters("p\nSteps: 5, " + filler)
    assert isinstance(parsed.prompt, str)


def test_json_depth_is_checked_before_decoding(tmp_path):
    path = crafted(tmp_path / "x.png", {JSON_KEY: HOSTILE_JSON["nested 100,000 deep"],
                                        PARAMETERS_KEY: "deep\nSteps: 4"})
    meta = read_png_metadata(path)
    assert meta.source == "parameters" and meta.request.prompt == "deep"
    assert [p.field for p in meta.problems] == [JSON_KEY]


def test_an_oversized_chunk_is_not_read(tmp_path):
    path = crafted(tmp_path / "x.png", {PARAMETERS_KEY: "big " * 100_000 + "\nSteps: 4"})
    meta = read_png_metadata(path)
    assert meta.source == "none" and [p.field for p in meta.problems] == [PARAMETERS_KEY]


# --------------------------------------------------------------- through the history

def _one_good_image(root):
    with HistoryStore(root) as store:
        request = GenerationRequest(prompt="a good owl", seed=3)
        store.add_result(GenerationResult(request, [GeneratedImage(PIXELS, 3)], "sd-v1.4", "CPU"))


@pytest.fixture
def hostile_history(tmp_path):
    """A history with one good image and every hostile JSON case dropped into its folder."""
    root = tmp_path / "hist"
    _one_good_image(root)
    drop = root / "images" / "dropped"
    drop.mkdir()
    for n, case in enumerate(HOSTILE_JSON):
        crafted(drop / f"case-{n}.png", {JSON_KEY: HOSTILE_JSON[case]})
    return root


def test_hostile_files_do_not_stop_the_history_cli(hostile_history, capsys):
    for args in (["history"], ["history", "--search", "fox"], ["history", "rebuild"],
                 ["history", "rebuild", "--from-images"], ["history", "--json", "-n", "100"]):
        assert main.main([*args, "--history-dir", str(hostile_history)]) == 0, args
    with HistoryStore(hostile_history) as store:
        assert store.count() == 1 + len(HOSTILE_JSON)
        for record in store.page(0, 100):
            assert main.main(["history", "show", str(record.id), "--history-dir",
                              str(hostile_history)]) == 0
    assert "a good owl" in capsys.readouterr().out


def test_show_survives_rows_an_older_version_imported_as_they_were(tmp_path, capsys):
    """Databases written before this fix hold `prompt: 5` and `steps: "abc"` as the file said."""
    root = tmp_path / "hist"
    _one_good_image(root)
    with sqlite3.connect(root / "history.sqlite3") as conn:
        conn.execute("UPDATE generations SET request_json = ?",
                     (json.dumps({**GOOD_REQUEST, "prompt": 5, "steps": "abc"}),))
    assert main.main(["history", "show", "1", "--history-dir", str(root)]) == 0
    out = capsys.readouterr().out
    from engine.request import GenerationRequest
    assert f"Steps: {GenerationRequest('').steps}," in out and "prompt, steps" in out


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs")
def test_a_fifo_named_png_is_skipped_without_being_opened(tmp_path):
    root = tmp_path / "hist"
    _one_good_image(root)
    os.mkfifo(root / "images" / "pipe.png")
    with HistoryStore(root) as store:  # opening it for reading would block here for ever
        assert store.count() == 1
        assert [name for name, _ in store.last_report.skipped] == ["images/pipe.png"]
    with pytest.raises(OSError, match="not a regular file"):
        read_png_metadata(root / "images" / "pipe.png")


@pytest.mark.skipif(os.name != "posix", reason="POSIX file names are bytes")
def test_a_file_name_that_is_not_utf8_is_skipped_and_named(tmp_path, capsys):
    root = tmp_path / "hist"
    _one_good_image(root)
    bad = os.fsencode(str(root / "images")) + b"/caf\xe9.png"
    crafted(os.fsdecode(bad), {PARAMETERS_KEY: "bytes\nSteps: 3"})
    assert main.main(["history", "rebuild", "--history-dir", str(root)]) == 0
    assert "images/caf\ufffd.png" in capsys.readouterr().err
    assert main.main(["history", "--history-dir", str(root)]) == 0
    assert "a good owl" in capsys.readouterr().out
