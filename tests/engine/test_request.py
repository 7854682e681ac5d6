import string

import pytest
from hypothesis import given, settings, strategies as st

from engine.request import MAX_SEED, GenerationRequest, nearest_side


def fields(problems):
    return [p.field for p in problems]


def test_defaults_are_valid():
    assert GenerationRequest("a cat").validate() == []


def test_every_problem_is_reported_at_once():
    request = GenerationRequest("", width=100, height=2000, steps=0, guidance=31, batch=9, seed=-1)
    assert sorted(fields(request.validate())) == sorted(
        ["prompt", "width", "height", "steps", "guidance", "batch", "seed"])


def test_size_message_names_a_size_that_works():
    (problem,) = GenerationRequest("a cat", width=500).validate()
    assert "multiple of 64" in problem.message and "such as 512" in problem.message


def test_long_prompt_message_gives_the_count_and_the_limit():
    """A model with a fixed context (the demo's 32, here 77) names the count and the limit."""
    count = lambda text: len(text.split()) + 2  # start and end tokens
    problems = GenerationRequest("word " * 80, negative_prompt="ok").validate(count, 77)
    assert fields(problems) == ["prompt"]
    assert "82 tokens" in problems[0].message and "77" in problems[0].message
    # Without a limit (Stable Diffusion reads any length in chunks) length is no problem.
    assert GenerationRequest("word " * 80).validate(count) == []


def test_negative_prompt_is_counted_too():
    count = lambda text: len(text.split()) + 2
    problems = GenerationRequest("a cat", negative_prompt="blurry " * 76).validate(count, 77)
    assert fields(problems) == ["negative_prompt"]
    assert "78 tokens" in problems[0].message


@pytest.mark.parametrize("seed", [0, 1, 2**31 - 1, 2**31, MAX_SEED])
def test_whole_seed_range_is_accepted(seed):
    assert GenerationRequest("a cat", seed=seed).validate() == []


def test_batch_seeds_count_up_and_wrap():
    assert GenerationRequest("x", seed=MAX_SEED - 1, batch=3).seeds() == [MAX_SEED - 1, MAX_SEED, 0]


def test_json_round_trip_keeps_every_field():
    request = GenerationRequest("a 🐱, \"quoted\"\nsecond line", negative_prompt="blurry", seed=MAX_SEED,
                                steps=12, guidance=3.25, width=640, height=384, batch=3,
                                model="sd-v2.1", mixed_precision=True, xla=True, preview=False)
    import json
    assert GenerationRequest.from_dict(json.loads(request.to_json())) == request


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=-100, max_value=3000))
def test_a_side_is_accepted_exactly_when_it_is_a_supported_multiple_of_64(side):
    ok = 128 <= side <= 1024 and side % 64 == 0
    problems = GenerationRequest("a cat", width=side, height=side).validate()
    assert (problems == []) == ok
    if not ok:
        suggestion = nearest_side(side)
        assert f"such as {suggestion}" in problems[0].message
        assert GenerationRequest("a cat", width=suggestion, height=suggestion).validate() == []


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=300))
def test_any_unicode_prompt_validates_without_crashing(prompt):
    count = lambda text: len(text.encode("utf-8")) // 4 + 2
    problems = GenerationRequest(prompt).validate(count)
    for problem in problems:
        assert problem.field == "prompt"
    if not prompt.strip():
        assert fields(problems) == ["prompt"]
    elif count(prompt) <= 77:
        assert problems == []


@pytest.mark.parametrize("bad", [1.5, "50", True, None])
def test_non_integer_steps_are_refused(bad):
    assert fields(GenerationRequest("a cat", steps=bad).validate()) == ["steps"]


def test_sampler_is_checked_against_the_samplers_there_are():
    from engine.samplers import IDS
    for name in IDS:
        assert GenerationRequest("a cat", sampler=name).validate() == []
    (problem,) = GenerationRequest("a cat", sampler="lms").validate()
    assert problem.field == "sampler" and "dpmpp-2m-karras" in problem.message
