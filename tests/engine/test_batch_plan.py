"""Prompt files and grid axes become jobs, or one message per problem before anything runs."""
import pytest

from engine.batch import BatchError
from engine.batch.axes import parse_axes, parse_axis
from engine.batch.plan import plan_batch
from engine.batch.prompts import parse_prompts, read_prompt_file
from engine.request import GenerationRequest

BASE = GenerationRequest("", seed=7, steps=5, width=128, height=128, model="demo", preview=False)


def problems_of(call):
    with pytest.raises(BatchError) as caught:
        call()
    return caught.value.problems


def test_prompt_file_skips_comments_and_blank_lines_and_keeps_line_numbers():
    lines = parse_prompts("# a comment\n\n  a red circle  \n   \n#another\na blue square\n")
    assert [(l.number, l.text) for l in lines] == [(3, "a red circle"), (6, "a blue square")]


def test_bad_lines_are_reported_with_their_numbers():
    problems = problems_of(lambda: parse_prompts("a red circle\nbad\x00line\nok\nalso\x07bad\n",
                                                 "p.txt"))
    assert len(problems) == 2
    assert problems[0].startswith("p.txt, line 2:") and "U+0000" in problems[0]
    assert problems[1].startswith("p.txt, line 4:") and "U+0007" in problems[1]


def test_a_file_of_comments_only_says_it_holds_no_prompt():
    assert "holds no prompt" in problems_of(lambda: parse_prompts("# only\n\n"))[0]


def test_unreadable_and_non_utf8_files(tmp_path):
    assert "Cannot read the prompt file" in problems_of(
        lambda: read_prompt_file(tmp_path / "absent.txt"))[0]
    latin = tmp_path / "latin.txt"
    latin.write_bytes(b"a red circle\ncaf\xe9\n")
    assert "line 2: not UTF-8" in problems_of(lambda: read_prompt_file(latin))[0]


def test_axes_parse_typed_values_and_quoted_commas():
    steps, size, sr = parse_axes(["steps=10, 20,40", "size=512x768,256", 'prompt=cat,"red, fluffy cat"'])
    assert steps.values == (10, 20, 40) and steps.label(1) == "Steps: 20"
    assert size.values == ((512, 768), (256, 256)) and size.label(1) == "Size: 256x256"
    assert sr.values == ("cat", "red, fluffy cat") and sr.label(1) == "red, fluffy cat"
    assert parse_axis("CFG=3,7.5").name == "guidance"


@pytest.mark.parametrize("spec, words", [
    ("steps", "NAME=V1,V2"),
    ("colour=red,blue", "no axis 'colour'"),
    ("steps=10,ten", "'ten' is not a whole number"),
    ("guidance=7,high", "'high' is not a number"),
    ("size=big", "not a size"),
    ("model=demo,sd-v9", "no model 'sd-v9'"),
    ("seed=1,,2", "non-empty"),
    ("seed=1,1", "repeated"),
])
def test_bad_axes_name_the_axis_and_the_value(spec, words):
    problem = " ".join(problems_of(lambda: parse_axes([spec])))
    assert f"--grid {spec}" in problem and words in problem


def test_an_axis_twice_and_every_bad_axis_at_once():
    problems = problems_of(lambda: parse_axes(["seed=1,2", "seed=3", "steps=x"]))
    assert any("given twice" in p for p in problems) and any("'x'" in p for p in problems)


def test_sampler_axis_takes_our_names_and_a1111_names():
    assert parse_axis("sampler=DDIM,Euler a,dpmpp-2m-karras").values == (
        "ddim", "euler-a", "dpmpp-2m-karras")
    assert "no sampler 'LMS'" in problems_of(lambda: parse_axis("sampler=LMS"))[0]


def test_jobs_are_every_prompt_times_every_combination_first_axis_fastest():
    prompts = parse_prompts("a red circle\na red square\n")
    plan = plan_batch(prompts, parse_axes(["steps=2,3,4", "prompt=red,blue"]), BASE)
    assert len(plan.jobs) == 12 and plan.images == 12
    first = plan.jobs[:6]
    assert [(j.request.steps, j.request.prompt) for j in first] == [
        (2, "a red circle"), (3, "a red circle"), (4, "a red circle"),
        (2, "a blue circle"), (3, "a blue circle"), (4, "a blue circle")]
    assert [j.coords for j in first] == [(0, 0), (1, 0), (2, 0), (0, 1), (1, 1), (2, 1)]
    assert all(j.request.seed == 7 and j.request.width == 128 for j in plan.jobs)
    assert len({j.id for j in plan.jobs}) == 12
    assert [len(g) for g in plan.grids()] == [6, 6]


def test_no_axes_one_job_per_line_and_no_grid():
    plan = plan_batch(parse_prompts("red\nblue\ngreen\n"), [], BASE)
    assert [j.request.prompt for j in plan.jobs] == ["red", "blue", "green"] and plan.grids() == []


def test_three_axes_make_jobs_but_no_grid():
    plan = plan_batch(parse_prompts("a\n"), parse_axes(["steps=2,3", "seed=1,2", "guidance=1,2"]), BASE)
    assert len(plan.jobs) == 8 and plan.grids() == []


def test_prompt_sr_value_missing_from_a_line_names_the_line():
    prompts = parse_prompts("a red circle\n# c\na blue square\n")
    problems = problems_of(lambda: plan_batch(prompts, parse_axes(["prompt=red,green"]), BASE))
    assert problems == ["--grid prompt: line 3's prompt does not contain 'red', the value "
                        "that the others replace."]


def test_out_of_range_axis_values_are_reported_once_with_their_axis():
    prompts = parse_prompts("a\nb\n")
    problems = problems_of(lambda: plan_batch(
        prompts, parse_axes(["steps=0,5,500", "size=512,500x512"]), BASE))
    assert len(problems) == 3
    assert problems[0].startswith("--grid steps=0: Steps must be")
    assert problems[1].startswith("--grid steps=500: Steps must be")
    assert problems[2].startswith("--grid size=500x512: Width 500 is not supported")


def test_a_bad_base_option_is_reported_once_not_per_job():
    problems = problems_of(lambda: plan_batch(parse_prompts("a\nb\n"), parse_axes(["seed=1,2"]),
                                              BASE.replace(guidance=99)))
    assert len(problems) == 1 and problems[0].startswith("Guidance scale")
