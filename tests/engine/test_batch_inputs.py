"""Batches given bad input (issue 31, inputs 2 and 3): an address where no Ray cluster
answers, prompt files and grid values that cannot make jobs, and plans too large to hold.
Everything is refused up front, with the line or value named, before any job runs."""
from __future__ import annotations

import time

import pytest

import main

SMALL = ["--model", "demo", "--width", "128", "--height", "128", "--steps", "2", "--seed", "3"]


def write_prompts(tmp_path, text: str):
    path = tmp_path / "prompts.txt"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.timeout(180)  # before the fix Ray retried this address for ever
def test_a_ray_address_where_nothing_answers_gives_up_with_a_message(tmp_path, capsys):
    pytest.importorskip("ray")
    import ray
    if ray.is_initialized():
        pytest.skip("this process is connected to a Ray instance already")
    prompts = write_prompts(tmp_path, "a red circle\n")
    started = time.monotonic()
    code = main.main(["batch", str(prompts), *SMALL, "--ray", "127.0.0.1:1",
                      "--out", str(tmp_path / "out"), "--no-history"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Cannot reach the Ray cluster at 127.0.0.1:1" in err and "Traceback" not in err
    assert "ray start --head" in err  # what to do about it
    assert not ray.is_initialized()
    print(f"gave up after {time.monotonic() - started:.1f} s")


def demo_request(**fields):
    from engine.request import GenerationRequest
    return GenerationRequest(**{"prompt": "x", "model": "demo", "width": 128, "height": 128,
                                "steps": 2, "preview": False, **fields})


def test_a_prompt_line_too_long_to_queue_is_refused_up_front_with_its_line():
    from engine.batch import BatchError
    from engine.batch.plan import plan_batch
    from engine.batch.prompts import parse_prompts

    # Stable Diffusion reads any length in chunks, so only the size a job can be kept at limits it.
    long_line = "a red circle, " * 5000  # 70,000 characters
    prompts = parse_prompts(f"a cat\n{long_line}\na dog\n")
    with pytest.raises(BatchError) as raised:
        plan_batch(prompts, [], demo_request(model="sd-v1.4", width=512, height=512))
    message = str(raised.value)
    assert "line 2" in message and "too long" in message and "line 1" not in message, message


def test_a_request_too_large_to_read_back_is_refused_by_the_queue_not_dropped():
    from engine.errors import InvalidRequest
    from engine.jobs import JobQueue

    queue = JobQueue()
    with pytest.raises(InvalidRequest, match="too long"):
        queue.add(demo_request(prompt="a red circle " * 6000))
    queue.add(demo_request(prompt="a red circle"))
    taken = queue.take()
    assert taken is not None and taken.request.prompt == "a red circle"


def test_a_word_the_model_does_not_know_fails_the_plan_not_the_job_on_that_line():
    from engine.batch import BatchError
    from engine.batch.plan import plan_batch
    from engine.batch.prompts import parse_prompts

    text = "a red circle\n" * 200 + "a red zeppelin\n"
    with pytest.raises(BatchError) as raised:
        plan_batch(parse_prompts(text), [], demo_request())
    message = str(raised.value)
    assert "line 201" in message and "zeppelin" in message, message
    assert message.count("line ") == 1  # the bad line once, not once per job


def test_a_syntax_error_names_its_line_and_grid_cell():
    from engine.batch import BatchError
    from engine.batch.axes import parse_axes
    from engine.batch.plan import plan_batch
    from engine.batch.prompts import parse_prompts

    prompts = parse_prompts("a (red:1.2) circle\na <lora:detail:zz> red circle\n")
    with pytest.raises(BatchError, match="line 2"):
        plan_batch(prompts, parse_axes(["seed=1,2"]), demo_request(model="sd-v1.4", width=512, height=512))


@pytest.mark.parametrize("spec", ['prompt=red,"green\nblue"', "steps=5\n6", "seed=1,\r2"])
def test_a_line_break_in_a_grid_value_is_a_clear_error(spec):
    from engine.batch import BatchError
    from engine.batch.axes import parse_axis

    with pytest.raises(BatchError, match="line break"):
        parse_axis(spec)


def test_the_plan_is_capped_before_its_jobs_are_made():
    from engine.batch import BatchError
    from engine.batch.axes import parse_axes
    from engine.batch.plan import MAX_JOBS, plan_batch
    from engine.batch.prompts import parse_prompts

    prompts = parse_prompts("a red circle\n" * 20)
    seeds = ",".join(str(n) for n in range(1000))  # 20 x 1000 x 1000 = 20,000,000 jobs
    with pytest.raises(BatchError) as raised:
        plan_batch(prompts, parse_axes([f"seed={seeds}", f"steps={','.join(map(str, range(1, 101)))}",
                                        "guidance=1,2,3,4,5,6,7,8,9,10"]), demo_request())
    message = str(raised.value)
    assert "20,000,000 jobs" in message and f"{MAX_JOBS:,}" in message, message
    # Just under the cap is a plan.
    ok = plan_batch(parse_prompts("a red circle\n"), parse_axes(
        [f"seed={','.join(str(n) for n in range(MAX_JOBS))}"]), demo_request())
    assert len(ok.jobs) == MAX_JOBS


def test_a_prompt_file_larger_than_any_plan_is_refused_before_it_is_read(tmp_path):
    from engine.batch import BatchError
    from engine.batch.prompts import MAX_FILE_BYTES, read_prompt_file

    path = tmp_path / "huge.txt"
    with open(path, "wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)  # sparse: no disk used
    with pytest.raises(BatchError, match="too large"):
        read_prompt_file(path)


def test_a_batch_job_the_queue_refuses_is_reported_and_the_rest_still_run(tmp_path):
    """Before: queue.take() gave None for a job it could not read back, and the batch crashed
    with AttributeError, the jobs after it never run."""
    from engine.batch.local import run_here
    from engine.batch.plan import BatchJob
    from engine.batch.prompts import PromptLine
    from engine.pipeline import Engine

    requests = [demo_request(prompt="a red circle"), demo_request(prompt="a red circle " * 6000),
                demo_request(prompt="a blue square")]
    jobs = [BatchJob(f"job{n}", n, PromptLine(n + 1, r.prompt), (), r) for n, r in enumerate(requests)]
    done, failed = [], []
    run_here(Engine(), jobs, lambda job, result: done.append(job.index),
             lambda job, message: failed.append((job.index, message)))
    assert done == [0, 2]
    assert len(failed) == 1 and failed[0][0] == 1 and "too long" in failed[0][1]


def test_generate_refuses_a_prompt_too_long_to_queue_up_front(tmp_path, capsys):
    """Before: the in-memory queue could not read the job back and generate crashed with
    AttributeError once the model had loaded."""
    (tmp_path / "empty").mkdir()  # a folder that exists: the prompt is judged before the weights
    code = main.main(["generate", "--model", "sd-v1.4", "--weights-dir", str(tmp_path / "empty"),
                      "--prompt", "a red circle, " * 5000, "--out", str(tmp_path / "out"),
                      "--no-history"])
    err = capsys.readouterr().err
    assert code == 2 and "too long" in err and "Traceback" not in err, err[-2000:]
