"""`python main.py history ...` as a person types it."""
import json

import numpy as np
import pytest

import main
from engine.events import GeneratedImage, GenerationResult
from engine.history import HistoryStore
from engine.paths import HISTORY_DIR_ENV
from engine.request import GenerationRequest


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "hist"
    with HistoryStore(root) as store:
        for n, prompt in enumerate(["a red fox\nin snow", "a sleeping cat", "an owl at night"]):
            request = GenerationRequest(prompt=prompt, seed=100 + n, negative_prompt="blurry")
            pixels = np.full((64, 64, 3), n * 40, np.uint8)
            record, = store.add_result(GenerationResult(request, [GeneratedImage(pixels, 100 + n)],
                                                        "sd-v1.4", "CPU"))
            if n == 1:
                store.set_favorite(record.id, True)
    return root


def test_lists_newest_first(folder, capsys):
    assert main.main(["history", "--history-dir", str(folder)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 3
    assert "an owl at night" in out[0] and "a sleeping cat" in out[1] and "a red fox in snow" in out[2]


def test_filters_and_json(folder, capsys):
    assert main.main(["history", "--history-dir", str(folder), "--search", "cat", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["prompt"], r["seed"], r["favorite"]) for r in rows] == [("a sleeping cat", 101, True)]
    assert main.main(["history", "--history-dir", str(folder), "--favorites", "-n", "5"]) == 0
    assert "a sleeping cat" in capsys.readouterr().out


def test_show_prints_the_recipe(folder, capsys):
    assert main.main(["history", "--history-dir", str(folder), "show", "1"]) == 0
    out = capsys.readouterr().out
    steps = GenerationRequest("").steps
    assert f"a red fox\nin snow\nNegative prompt: blurry\nSteps: {steps}" in out
    assert main.main(["history", "show", "99", "--history-dir", str(folder)]) == 2
    assert "no image 99" in capsys.readouterr().err


def test_rebuild_after_the_database_is_lost(folder, capsys):
    for p in folder.glob("history.sqlite3*"):
        p.unlink()
    # The flag after the action, too.
    assert main.main(["history", "rebuild", "--history-dir", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "3 imported" in out and "3 images" in out
    assert main.main(["history", "rebuild", "--from-images", "--history-dir", str(folder)]) == 0
    assert "3 imported" in capsys.readouterr().out
    assert not list(folder.glob("history.sqlite3.*-*"))


def test_environment_variable_names_the_folder(folder, capsys, monkeypatch):
    monkeypatch.setenv(HISTORY_DIR_ENV, str(folder))
    assert main.main(["history", "--json"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3


class FakeEngine:
    """Stands in for the model: the history part of `generate` is what is under test."""
    def device_name(self):
        return "CPU"

    def backend_name(self):
        return "tensorflow"


    def generate(self, request, on_progress=None, cancel=None):
        images = [GeneratedImage(np.full((64, 64, 3), s % 255, np.uint8), s) for s in request.seeds()]
        return GenerationResult(request, images, model_label=request.model, device="CPU",
                                timings={"denoising": 0.5})


def _generate(tmp_path, monkeypatch, *extra):
    import engine.commands.generate as generate
    monkeypatch.setattr(generate, "make_engine", lambda args: FakeEngine())
    return main.main(["generate", "--prompt", "a red circle, at the top", "--seed", "5", "--batch", "2",
                      "--model", "demo", "--width", "128", "--height", "128",
                      "--out", str(tmp_path / "out"), *extra])


def test_generate_adds_its_images_to_the_history(tmp_path, monkeypatch, capsys):
    assert _generate(tmp_path, monkeypatch, "--history-dir", str(tmp_path / "h")) == 0
    written = sorted((tmp_path / "out").glob("*.png"))
    assert len(written) == 2
    with HistoryStore(tmp_path / "h") as store:
        records = store.page()
        assert sorted(r.seed for r in records) == [5, 6]
        assert all(r.prompt == "a red circle, at the top" and r.model == "demo" for r in records)
        assert all(r.path.read_bytes() == w.read_bytes() for r, w in
                   zip(sorted(records, key=lambda r: r.seed), written))  # one writer, same bytes
        assert store.get(records[0].id).timings == {"denoising": 0.5}


def test_generate_no_history_leaves_the_history_alone(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(HISTORY_DIR_ENV, str(tmp_path / "h"))
    assert _generate(tmp_path, monkeypatch, "--no-history") == 0
    assert len(list((tmp_path / "out").glob("*.png"))) == 2
    assert not (tmp_path / "h").exists()
