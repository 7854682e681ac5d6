"""`python main.py batch`: one PNG per job in --out, each in the history once, readable as A1111."""
import collections
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import main
from engine.batch.progress import BatchProgress, format_duration
from engine.history import HistoryStore
from engine.pngmeta import read_png_metadata
from tests.bounds import CHILD_S

ROOT = Path(__file__).resolve().parents[2]
PROMPTS = ("# shapes the demo model knows\n"
           "a small red circle on the left, blue background\n"
           "\n"
           "a large red square at the top, white background\n")
SMALL = ["--model", "demo", "--width", "128", "--height", "128", "--steps", "3", "--seed", "11"]


def check_outputs(out: Path, history_dir: Path, jobs: int):
    """Every job's PNG in `out` carries its recipe and is in the history exactly once."""
    files = sorted(p for p in out.glob("*.png") if not p.name.startswith("grid-"))
    assert len(files) == jobs
    recipes = []
    for path in files:
        meta = read_png_metadata(path, verify=True)
        assert meta.source == "sd_desk" and meta.parameters is not None
        assert meta.parameters.prompt == meta.request.prompt
        assert meta.parameters.steps == meta.request.steps and meta.parameters.seed == meta.seed
        assert meta.parameters.width == 128 and meta.parameters.model == "demo"
        recipes.append(meta.request.to_json())
    with HistoryStore(history_dir, reconcile=False) as store:
        details = [store.get(r.id) for r in store.page(0, 1000)]
    assert collections.Counter(d.request.to_json() for d in details) == collections.Counter(recipes)
    by_recipe = {d.request.to_json(): d for d in details}
    for path, recipe in zip(files, recipes):
        with Image.open(path) as mine, Image.open(by_recipe[recipe].path) as kept:
            assert (np.asarray(mine) == np.asarray(kept)).all()
    return files


def test_batch_with_two_axes_writes_every_job_the_history_and_a_grid(tmp_path, capsys):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text(PROMPTS)
    out, history = tmp_path / "out", tmp_path / "history"
    code = main.main(["batch", str(prompts), *SMALL, "--grid", "seed=1,2",
                      "--grid", "prompt=red,green", "--out", str(out), "--history-dir", str(history)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    files = check_outputs(out, history, jobs=8)
    assert "8/8 jobs" in captured.err and "ETA" in captured.err
    assert "8 of 8 job(s) done" in captured.err
    grids = sorted(out.glob("grid-*.png"))
    assert len(grids) == 2
    printed = captured.out.split()
    assert sorted(printed) == sorted(str(p) for p in [*files, *grids])
    import json
    with Image.open(grids[0]) as grid:
        recipe = json.loads(grid.text["sd_desk_grid"])
        assert grid.size[0] > 2 * 128 and grid.size[1] > 2 * 128
    assert recipe["columns"]["labels"] == ["Seed: 1", "Seed: 2"]
    assert recipe["rows"]["labels"] == ["red", "green"]
    assert recipe["prompt_line"] == 2 and len(recipe["cells"]) == 4
    cell = next(c for c in recipe["cells"] if (c["row"], c["column"]) == (1, 0))
    assert cell["seed"] == 1 and cell["prompt"] == "a small green circle on the left, blue background"


def test_bad_file_and_bad_axis_both_reported_before_anything_runs(tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red circle\nbroken\x00line\n")
    completed = subprocess.run(
        [sys.executable, "main.py", "batch", str(prompts), "--grid", "steps=5,many",
         "--out", str(tmp_path / "out")], cwd=ROOT, capture_output=True, text=True, timeout=CHILD_S)
    assert completed.returncode == 2
    assert "line 2: control character" in completed.stderr
    assert "--grid steps=5,many: 'many' is not a whole number" in completed.stderr
    assert "Traceback" not in completed.stderr
    assert not (tmp_path / "out").exists()


def test_out_of_range_value_names_its_axis(tmp_path, capsys):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red circle\n")
    code = main.main(["batch", str(prompts), *SMALL, "--grid", "guidance=5,31",
                      "--out", str(tmp_path / "out"), "--no-history"])
    assert code == 2
    assert "--grid guidance=31: Guidance scale must be a number from 0 to 30" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_word_the_model_does_not_know_is_refused_before_any_job_runs(tmp_path, capsys):
    """As `generate` refuses it (issue 31, inputs 3); a job that fails while the batch runs is
    reported and the others saved (test_batch_inputs.py)."""
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red circle\na red dragon\n")
    code = main.main(["batch", str(prompts), *SMALL, "--out", str(tmp_path / "out"), "--no-history"])
    err = capsys.readouterr().err
    assert code == 2
    assert "line 2:" in err and "dragon" in err and "line 1" not in err
    assert not (tmp_path / "out").exists()


def test_progress_counts_jobs_and_estimates_time_left():
    now = [0.0]
    shown = []
    progress = BatchProgress(4, lambda f, t: shown.append((f, t)), clock=lambda: now[0])
    assert progress.eta_seconds() is None
    now[0] = 10.0
    progress.job_finished()
    assert shown[-1] == (0.25, "1/4 jobs, ETA 30s")
    now[0] = 15.0
    progress.job_step(0.5)
    assert shown[-1][0] == pytest.approx(1.5 / 4) and progress.eta_seconds() == pytest.approx(25.0)
    for _ in range(3):
        progress.job_finished(failed=_ == 2)
    assert shown[-1] == (1.0, "4/4 jobs, 1 failed")
    assert format_duration(75) == "1m15s" and format_duration(3720) == "1h02m"


def test_progress_adds_the_steps_of_jobs_running_side_by_side():
    """On a cluster several jobs run at once: the one bar counts each one's steps."""
    shown = []
    progress = BatchProgress(4, lambda fraction, _text: shown.append(fraction), clock=lambda: 0.0)
    progress.job_step(0.5, "a")
    progress.job_step(0.25, "b")
    assert shown[-1] == pytest.approx(0.75 / 4)
    progress.job_finished(job="a")
    assert shown[-1] == pytest.approx(1.25 / 4)
    progress.job_step(1.0, "b")  # its last step: not saved yet, so not a whole job
    assert 1.25 / 4 < shown[-1] < 2 / 4
    progress.job_finished(job="b")
    assert shown[-1] == pytest.approx(2 / 4)


def test_a_checkpoint_in_checkpoints_dir_is_a_model_the_grid_can_name(library, tmp_path, capsys):
    """`--checkpoints-dir` adds its files before the axes are read (the model axis refused
    them as unknown before)."""
    from tests.engine.checkpoint_files import family_shapes, write_sparse

    folder = tmp_path / "checkpoints"
    folder.mkdir()
    write_sparse(folder / "mine.safetensors", family_shapes("sd-v1"))
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red circle\n")
    # A bad guidance stops the batch before anything is built: only the axes are checked.
    code = main.main(["batch", str(prompts), "--checkpoints-dir", str(folder), "--grid", "model=mine,demo",
                      "--grid", "guidance=5,31", "--out", str(tmp_path / "out"), "--no-history"])
    err = capsys.readouterr().err
    assert code == 2
    assert "--grid guidance=31" in err and "no model" not in err


def test_folders_added_for_a_run_twice_are_kept_once(library, tmp_path, monkeypatch):
    from engine.models import extra_networks

    monkeypatch.setattr(extra_networks, "_run_folders", {kind: [] for kind in extra_networks._run_folders})
    for _ in range(2):
        library.add_folders([tmp_path / "checkpoints"])
        extra_networks.add_run_folders("lora", [tmp_path / "loras"])
    assert library.run_folders() == [tmp_path / "checkpoints"]
    assert extra_networks.run_folders("lora") == [tmp_path / "loras"]
