"""Issue 31: deeply nested JSON in any file we read crashed every command with RecursionError.
Each JSON file now goes through engine/json_file.py: size and depth limits, the file named,
and a damaged state file set aside and started anew."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine import json_file

ROOT = Path(__file__).resolve().parents[2]
NESTED = "[" * 3000 + "]" * 3000


def test_deep_nesting_is_a_named_problem_not_a_recursion(tmp_path):
    path = tmp_path / "state.json"
    path.write_text(NESTED)
    with pytest.raises(json_file.JsonProblem, match="state.json.*levels deep"):
        json_file.read(path)
    with pytest.raises(json_file.JsonProblem, match="levels deep"):
        json_file.loads('{"a": "[[[[", "b": ' + "[" * 40 + "]" * 40 + "}")
    assert json_file.loads('{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}') == {"a": "[" * 40}


def test_a_damaged_state_file_is_set_aside_and_started_anew(tmp_path):
    path = tmp_path / "library.json"
    path.write_text(NESTED)
    assert json_file.read_state(path, {"fresh": True}) == {"fresh": True}
    assert not path.exists()
    aside = list(tmp_path.glob("library.json.damaged-*"))
    assert len(aside) == 1 and aside[0].read_text() == NESTED  # kept, for whoever wants it
    (tmp_path / "big.json").write_text(json.dumps({"x": "y" * 2000}))
    assert json_file.read_state(tmp_path / "big.json", None, max_bytes=1000) is None


def run(tmp_path, *args):
    env = dict(os.environ, PYTHONPATH=str(ROOT), SD_DESK_DATA_DIR=str(tmp_path / "data"),
               SD_DESK_MODELS_DIR=str(tmp_path / "models"), KERAS_HOME=str(tmp_path / "keras"),
               KERAS_BACKEND="tensorflow")
    return subprocess.run([sys.executable, "main.py", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_every_state_file_nested_3000_deep_and_commands_still_run(tmp_path):
    data, models = tmp_path / "data", tmp_path / "models"
    for folder in (data, models, tmp_path / "keras"):
        folder.mkdir()
    for path in (data / "settings.json", data / "verified-weights.json", models / "library.json"):
        path.write_text(NESTED)
    (tmp_path / "keras" / "keras.json").write_text(NESTED)
    env_backend_free = dict(os.environ)
    env_backend_free.pop("KERAS_BACKEND", None)
    info = subprocess.run([sys.executable, "main.py", "info"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env=dict(env_backend_free, PYTHONPATH=str(ROOT),
                                                SD_DESK_DATA_DIR=str(data), SD_DESK_MODELS_DIR=str(models),
                                                KERAS_HOME=str(tmp_path / "keras")))
    assert info.returncode == 0, info.stderr[-2000:]
    assert "RecursionError" not in info.stderr and "Traceback" not in info.stderr
    assert "keras.json" in info.stderr  # the note names the file Keras's choice was read from
    listed = run(tmp_path, "models", "list")
    assert listed.returncode == 0 and "Traceback" not in listed.stderr, listed.stderr[-2000:]
    assert list(data.glob("settings.json.damaged-*")) and list(models.glob("library.json.damaged-*"))


def test_a_nested_line_in_the_marks_journal_is_skipped(tmp_path):
    from engine.history.marks import MarksJournal
    path = tmp_path / "history.marks.jsonl"
    path.write_text('{"p": "a.png", "f": true, "d": null}\n' + "[" * 2000 + "\n")
    marks = MarksJournal(path).read()
    assert set(marks) == {"a.png"} and marks["a.png"].favorite


def test_a_nested_checked_stamp_means_check_again(tmp_path):
    from engine.history import reconcile
    db = tmp_path / "history.sqlite3"
    (tmp_path / "history.sqlite3.checked").write_text(NESTED)
    assert reconcile._checked_stamp(db) is None
