"""Reading recipes back from PNGs: ours exactly, other tools' A1111 text as far as it goes."""
import json
import os
import re
import stat

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin

from engine.pngmeta import (
    JSON_KEY,
    NEGATIVE_PREFIX,
    format_parameters,
    parse_parameters,
    read_png_metadata,
    save_png,
)
from engine.request import MAX_SEED, GenerationRequest

PIXELS = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)

# Text an A1111 exporter produced (v1.6, with LoRA hashes quoted by A1111 itself).
A1111_SAMPLE = (
    "masterpiece, (best quality:1.2), 1girl, \"quoted\"\n"
    "Negative prompt: lowres, bad anatomy\n"
    "Steps: 20, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 3735928559, Size: 512x768, "
    "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, "
    "Lora hashes: \"add_detail: 7c6bad76eb54, more_details: 3b8aa1d351ef\", Version: v1.6.0"
)

# A1111's own pattern for one `Key: value` pair, as other tools read our text.
A1111_PAIR = re.compile(r"\s*([\w ]+):\s*(\"(?:\\.|[^\\\"])+\"|[^,]*)(?:,|$)")


def test_reads_a1111_text_and_keeps_unknown_keys_in_order():
    parsed = parse_parameters(A1111_SAMPLE)
    assert parsed.prompt == "masterpiece, (best quality:1.2), 1girl, \"quoted\""
    assert parsed.negative_prompt == "lowres, bad anatomy"
    assert (parsed.steps, parsed.guidance, parsed.seed) == (20, 7.0, 3735928559)
    assert (parsed.width, parsed.height) == (512, 768)
    assert parsed.model == "v1-5-pruned-emaonly"
    assert parsed.sampler == "dpmpp-2m-karras"
    assert parsed.model_hash == "6ce0161689"  # read: reuse finds a checkpoint by it
    assert list(parsed.extra.items()) == [
        ("Lora hashes", "add_detail: 7c6bad76eb54, more_details: 3b8aa1d351ef"),
        ("Version", "v1.6.0"),
    ]


def test_windows_line_ends_and_a_trailing_newline_are_tolerated():
    parsed = parse_parameters(A1111_SAMPLE.replace("\n", "\r\n") + "\r\n")
    assert parsed.negative_prompt == "lowres, bad anatomy"
    assert parsed.steps == 20


def test_text_without_a_steps_line_is_all_prompt():
    text = "portrait\nstyle: baroque, mood: dark, light: soft"
    parsed = parse_parameters(text)
    assert parsed.prompt == text
    assert parsed.steps is None and parsed.extra == {}


def test_multi_line_negative_prompt_runs_up_to_the_settings_line():
    parsed = parse_parameters("a cat\nNegative prompt: blurry\nugly, dark\nSteps: 5, Seed: 1")
    assert parsed.prompt == "a cat"
    assert parsed.negative_prompt == "blurry\nugly, dark"
    assert (parsed.steps, parsed.seed) == (5, 1)


def test_unquoted_comma_in_a_value_stays_with_its_value():
    # What our writer produced before it quoted values; such files exist now.
    parsed = parse_parameters("x\nSteps: 3, Model: sd-v1.4 (custom, unverified), Seed: 9")
    assert parsed.model == "sd-v1.4 (custom, unverified)"
    assert parsed.seed == 9


def test_unparseable_numbers_are_kept_as_text_not_dropped():
    parsed = parse_parameters("x\nSteps: 20, Seed: random, Size: big")
    assert parsed.seed is None and parsed.width is None
    assert parsed.extra == {"Seed": "random", "Size": "big"}


def test_to_request_takes_the_settings_and_only_a_model_we_know():
    parsed = parse_parameters(A1111_SAMPLE)
    base = GenerationRequest(prompt="old", model="sd-v2.1", batch=4)
    req = parsed.to_request(base, known_models=["sd-v1.4", "sd-v2.1"])
    assert req.prompt == parsed.prompt and req.negative_prompt == parsed.negative_prompt
    assert (req.steps, req.guidance, req.seed, req.width, req.height) == (20, 7.0, 3735928559, 512, 768)
    assert req.model == "sd-v2.1" and req.batch == 1
    ours = parse_parameters("x\nSteps: 3, Model: sd-v1.4").to_request(base, ["sd-v1.4"])
    assert ours.model == "sd-v1.4"


def test_clip_skip_and_network_hashes_are_written_and_read_as_a1111_does():
    request = GenerationRequest(prompt="a cat <lora:add_detail:0.8>, myemb", clip_skip=2)
    hashes = {"Lora hashes": {"add_detail": "7c6bad76eb54", "more_details": "3b8aa1d351ef"},
              "TI hashes": {"myemb": "0a1b2c3d4e5f"}}
    text = format_parameters(request, 1, "m", network_hashes=hashes)
    line = text.splitlines()[-1]
    assert line.endswith(", Clip skip: 2, Lora hashes: \"add_detail: 7c6bad76eb54, "
                         "more_details: 3b8aa1d351ef\", TI hashes: \"myemb: 0a1b2c3d4e5f\"")
    pairs = dict(A1111_PAIR.findall(line))
    assert json.loads(pairs["Lora hashes"]) == "add_detail: 7c6bad76eb54, more_details: 3b8aa1d351ef"
    parsed = parse_parameters(text)
    assert parsed.to_request().clip_skip == 2 and parsed.prompt == request.prompt
    # The default is not written, as A1111 leaves it out.
    assert "Clip skip" not in format_parameters(GenerationRequest(prompt="p"), 1, "m")
    assert parse_parameters(A1111_SAMPLE + ", Clip skip: 13").problems[0].field == "clip_skip"
    # Absent means 1, also over a form that had 2.
    assert parse_parameters(A1111_SAMPLE).to_request(request).clip_skip == 1


# --------------------------------------------------------------- writer fixes

def test_model_label_with_a_comma_reaches_other_tools_whole():
    text = format_parameters(GenerationRequest(prompt="p"), 1, "sd-v1.4 (custom, unverified)")
    pairs = dict(A1111_PAIR.findall(text.splitlines()[-1]))
    assert json.loads(pairs["Model"]) == "sd-v1.4 (custom, unverified)"
    assert parse_parameters(text).model == "sd-v1.4 (custom, unverified)"


def test_guidance_is_written_without_losing_digits():
    for guidance in (7.5, 7.0, 7.123456789, 0.1 + 0.2):
        text = format_parameters(GenerationRequest(prompt="p", guidance=guidance), 1, "m")
        assert parse_parameters(text).guidance == guidance
    assert "CFG scale: 7.5," in format_parameters(GenerationRequest(prompt="p"), 1, "m")


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_saved_png_gets_normal_permissions_not_private_temp_ones(tmp_path):
    umask = os.umask(0o022)
    try:
        path = save_png(tmp_path / "a.png", PIXELS, GenerationRequest(prompt="p"), 1, "m")
    finally:
        os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]


# --------------------------------------------------------------- round trips

# Pieces that trip naive parsers, mixed with arbitrary characters.
prompt_text = st.lists(
    st.one_of(
        st.sampled_from(list(',:;"\'\n()[]{}\\ =') + ["🦊", "🌸", "é", "猫", "Steps: 3, ", "Seed:"]),
        st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r"), max_size=8),
    ),
    max_size=12,
).map("".join)


def _expressible(text: str) -> bool:
    """The one thing A1111's text cannot carry (our JSON chunk does)."""
    return not any(line.startswith(NEGATIVE_PREFIX) for line in text.split("\n"))


requests = st.builds(
    GenerationRequest,
    prompt=prompt_text,
    negative_prompt=prompt_text,
    seed=st.integers(0, MAX_SEED),
    steps=st.integers(1, 200),
    guidance=st.floats(0, 30, allow_nan=False),
    width=st.sampled_from([128, 512, 768]),
    height=st.sampled_from([128, 448, 1024]),
)


@settings(max_examples=300, deadline=None)
@given(request=requests, label=prompt_text)
def test_a1111_text_round_trips_exactly(request, label):
    assume(_expressible(request.prompt) and "\r" not in label)
    parsed = parse_parameters(format_parameters(request, request.seed, label))
    assert parsed.prompt == request.prompt
    assert parsed.negative_prompt == request.negative_prompt
    assert (parsed.steps, parsed.guidance, parsed.seed) == (request.steps, request.guidance, request.seed)
    assert (parsed.width, parsed.height) == (request.width, request.height)
    assert parsed.model == label
    assert parsed.extra == {}


EDGE_PROMPTS = [
    'a cat, "quoted", key: value',
    "line one\nline two\n\nline four",
    "emoji 🦊🌸 and 猫, café",
    "Steps: 99, Seed: 1, Size: 1x1\nlooks like settings",
    "trailing newline\n",
    " leading and trailing spaces ",
]


@pytest.mark.parametrize("prompt", EDGE_PROMPTS)
def test_png_round_trip_through_both_chunks(tmp_path, prompt):
    request = GenerationRequest(prompt=prompt, negative_prompt="blurry,\nugly: \"no\" 🙈",
                                seed=7, steps=12, guidance=6.5, width=128, height=192, batch=3)
    path = save_png(tmp_path / "a.png", PIXELS, request, seed=9, model_label="sd-v1.4")
    meta = read_png_metadata(path, verify=True)
    assert meta.source == "sd_desk"
    assert meta.request == request.replace(seed=9, batch=1)
    assert (meta.seed, meta.batch_seed, meta.model_label) == (9, 7, "sd-v1.4")
    assert (meta.width, meta.height) == (64, 64)  # the pixels' size, not the request's

    # The same file as another tool that keeps only `parameters` would hand it over.
    with Image.open(path) as image:
        info = PngImagePlugin.PngInfo()
        info.add_itxt("parameters", image.info["parameters"])
        image.save(tmp_path / "b.png", pnginfo=info)
    other = read_png_metadata(tmp_path / "b.png")
    assert other.source == "parameters"
    assert other.request == request.replace(seed=9, batch=1, model=GenerationRequest(prompt="").model)
    assert other.model_label == "sd-v1.4"


def test_png_without_a_recipe_reads_as_none(tmp_path):
    Image.fromarray(PIXELS).save(tmp_path / "plain.png")
    meta = read_png_metadata(tmp_path / "plain.png")
    assert meta.source == "none" and meta.request is None and (meta.width, meta.height) == (64, 64)


def test_damaged_json_chunk_falls_back_to_parameters(tmp_path):
    info = PngImagePlugin.PngInfo()
    info.add_itxt("parameters", "a fox\nSteps: 4, Seed: 5, Size: 64x64")
    info.add_itxt(JSON_KEY, "{not json")
    Image.fromarray(PIXELS).save(tmp_path / "x.png", pnginfo=info)
    meta = read_png_metadata(tmp_path / "x.png")
    assert meta.source == "parameters" and meta.request.prompt == "a fox" and meta.seed == 5


def test_truncated_png_fails_verification(tmp_path):
    path = save_png(tmp_path / "a.png", PIXELS, GenerationRequest(prompt="p"), 1, "m")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(OSError):
        read_png_metadata(path, verify=True)


def test_any_damage_reads_as_one_kind_of_error(tmp_path):
    """Whatever PIL makes of a damaged file, callers (a drop handler, reconcile) catch OSError."""
    import random
    path = save_png(tmp_path / "a.png", PIXELS, GenerationRequest(prompt="p"), 1, "m")
    good = path.read_bytes()
    short_header = bytearray(good)
    short_header[11] = 12  # IHDR claims 12 bytes, not 13: PIL raises ValueError for this one
    path.write_bytes(bytes(short_header))
    with pytest.raises(OSError):
        read_png_metadata(path)
    rng = random.Random(1)
    for n in range(300):
        data = bytearray(good)
        if n % 2:
            data = data[: rng.randrange(8, len(data))]
        else:
            for _ in range(3):
                data[rng.randrange(8, len(data))] = rng.randrange(256)
        path.write_bytes(bytes(data))
        try:
            read_png_metadata(path, verify=True)
        except OSError:
            pass


@pytest.mark.parametrize("sampler,written", [
    ("ddim", "DDIM"), ("euler", "Euler"), ("euler-a", "Euler a"), ("dpmpp-2m", "DPM++ 2M"),
    ("dpmpp-2m-karras", "DPM++ 2M Karras"), ("unipc", "UniPC")])
def test_samplers_round_trip_under_a1111_names(tmp_path, sampler, written):
    request = GenerationRequest("a fox", sampler=sampler, model="demo")
    path = save_png(tmp_path / "a.png", PIXELS, request, 1, "Demo")
    with Image.open(path) as image:
        assert f"Sampler: {written}, " in image.info["parameters"]
        del image.info[JSON_KEY]
        text_only = tmp_path / "text-only.png"
        info = PngImagePlugin.PngInfo()
        info.add_itxt("parameters", image.info["parameters"])
        image.save(text_only, pnginfo=info)
    assert read_png_metadata(path).request.sampler == sampler
    meta = read_png_metadata(text_only)
    assert meta.source == "parameters" and meta.request.sampler == sampler


@pytest.mark.parametrize("line,expected", [
    ("Sampler: DPM++ 2M Karras", "dpmpp-2m-karras"),
    ("Sampler: DPM++ 2M, Schedule type: Karras", "dpmpp-2m-karras"),
    ("Sampler: DPM++ 2M, Schedule type: Automatic", "dpmpp-2m"),
    ("Sampler: Euler a, Schedule type: Automatic", "euler-a"),
    ("Sampler: DPM++ 2M Karras, Schedule type: Karras", "dpmpp-2m-karras"),
])
def test_both_a1111_forms_of_a_sampler_are_read(line, expected):
    parsed = parse_parameters(f"a fox\nSteps: 20, {line}, CFG scale: 7")
    assert parsed.sampler == expected and parsed.problems == []


@pytest.mark.parametrize("line", ["Sampler: DPM++ SDE", "Sampler: Euler, Schedule type: Karras"])
def test_a_sampler_we_lack_is_named_not_guessed(line):
    parsed = parse_parameters(f"a fox\nSteps: 20, {line}, CFG scale: 7")
    assert parsed.sampler is None and parsed.steps == 20
    (problem,) = parsed.problems
    assert problem.field == "sampler" and "no such sampler" in problem.message


def test_our_recipes_from_before_samplers_read_as_ddim(tmp_path):
    path = save_png(tmp_path / "old.png", PIXELS, GenerationRequest("a fox", model="demo"), 1, "Demo")
    with Image.open(path) as image:
        payload = json.loads(image.info[JSON_KEY])
        del payload["request"]["sampler"]
        info = PngImagePlugin.PngInfo()
        info.add_itxt(JSON_KEY, json.dumps(payload))
        image.save(tmp_path / "older.png", pnginfo=info)
    assert read_png_metadata(tmp_path / "older.png").request.sampler == "ddim"
