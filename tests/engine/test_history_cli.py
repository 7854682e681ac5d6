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
    assert "a red fox\nin snow\nNegative prompt: blurry\nSteps: 50" in out
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
    assert list(folder.glob("history.sqlite3.replaced-*"))


def test_environment_variable_names_the_folder(folder, capsys, monkeypatch):
    monkeypatch.setenv(HISTORY_DIR_ENV, str(folder))
    assert main.main(["history", "--json"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3
