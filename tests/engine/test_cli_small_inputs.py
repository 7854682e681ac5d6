"""Issue 31, inputs 8: the smaller bad inputs, each one clear message (rc 2 on the CLI), no
traceback: a new history on a full disk, an overlong --out, an unreadable or damaged
--weights-dir, a history that cannot be opened after a generation, a relative or NUL data
folder in settings.json or the Preferences dialog."""
from __future__ import annotations

import errno
import json
import logging
import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest

import main
from engine import locations, preferences
from engine.events import GeneratedImage, GenerationResult
from engine.history import HistoryError, HistoryStore
from engine.history import reconcile as reconcile_module
from engine.models.registry import SD_V1_4

DEMO_PROMPT = "a red circle"


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """Every folder the CLI would touch, in tmp_path; no preference set."""
    monkeypatch.setenv(locations.DATA_DIR_ENV, str(tmp_path / "data"))
    monkeypatch.setenv("SD_DESK_HISTORY_DIR", str(tmp_path / "history"))
    monkeypatch.setenv(locations.MODELS_DIR_ENV, str(tmp_path / "models"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    yield tmp_path
    locations.set_data_dir_setting(None)
    locations.set_models_dir_setting(None)


class _FakeEngine:
    """Records what it was asked for; an image of zeros per seed."""

    def __init__(self):
        self.requests = []

    def device_name(self):
        return "CPU"

    def backend_name(self):
        return "tensorflow"

    def generate(self, request, on_progress=None, cancel=None):
        self.requests.append(request)
        pixels = np.zeros((request.height, request.width, 3), np.uint8)
        return GenerationResult(request, [GeneratedImage(pixels, s) for s in request.seeds()],
                                request.model, "CPU")


@pytest.fixture
def engine(monkeypatch):
    from engine.commands import generate
    fake = _FakeEngine()
    monkeypatch.setattr(generate, "make_engine", lambda args: fake)
    return fake


def generate(*args) -> list:
    return ["generate", "--prompt", DEMO_PROMPT, "--steps", "1", "--width", "128",
            "--height", "128", *map(str, args)]


def one_message(err: str) -> None:
    assert err.startswith("error: ") and "Traceback" not in err, err


# ---------------------------------------------------------------- a new history on a full disk

def test_a_new_history_on_a_full_disk_is_one_message(isolated, monkeypatch, capsys):
    """SQLite makes the file, then cannot write its tables: the read-only fallback found a
    database without tables and listed it with `no such table`."""
    def full(db_path):
        Path(db_path).touch()  # what sqlite3.connect leaves on a full disk
        error = sqlite3.OperationalError("database or disk is full")
        error.sqlite_errorcode = 13
        raise error
    monkeypatch.setattr(reconcile_module, "connect", full)
    root = isolated / "fresh"
    with pytest.raises(HistoryError, match="holds no history yet"):
        HistoryStore(root)
    assert main.main(["history", "--history-dir", str(root)]) == 2
    err = capsys.readouterr().err
    one_message(err)
    assert "database or disk is full" in err and "Free some space" in err


# ---------------------------------------------------------------- --out and --weights-dir

def test_an_out_folder_name_too_long_is_one_message(isolated, engine, capsys):
    out = isolated / ("a" * 300)
    assert main.main(generate("--model", "demo", "--out", out)) == 2
    err = capsys.readouterr().err
    one_message(err)
    assert "File name too long" in err and not engine.requests
    assert len(err) < 400, "the 300-character name is shortened in the message"


def _unreadable(monkeypatch, folder: Path) -> None:
    """As the kernel answers a user without read and search permission on `folder` (root
    is never refused, so the refusal is simulated): the folder itself can be stat'ed, its
    listing and anything inside it cannot."""
    real_stat, real_scandir = os.stat, os.scandir
    inside = str(folder) + os.sep

    def refuse(path):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    def stat(path, *args, **kwargs):
        if os.fspath(path).startswith(inside):
            refuse(path)
        return real_stat(path, *args, **kwargs)

    def scandir(path="."):
        if os.fspath(path) == str(folder):
            refuse(path)
        return real_scandir(path)
    monkeypatch.setattr(os, "stat", stat)
    monkeypatch.setattr(os, "scandir", scandir)


@pytest.mark.parametrize("model", [None, "sd-v1.4"])
def test_an_unreadable_weights_dir_is_one_message(isolated, engine, monkeypatch, capsys, model):
    folder = isolated / "weights"
    folder.mkdir()
    _unreadable(monkeypatch, folder)
    extra = ["--model", model] if model else []
    assert main.main(generate(*extra, "--weights-dir", folder, "--out", isolated / "out")) == 2
    err = capsys.readouterr().err
    one_message(err)
    assert "cannot be read (permission denied)" in err and not engine.requests


@pytest.mark.parametrize("name, expected", [("a" * 300, "File name too long"),
                                            ("absent", "does not exist"),
                                            ("a-file", "is a file, not a folder")])
def test_a_weights_dir_that_is_no_folder_is_one_message(isolated, engine, capsys, name, expected):
    (isolated / "a-file").write_text("not a folder")
    for command in (generate("--weights-dir", isolated / name, "--out", isolated / "out"),
                    ["batch", str(_prompt_file(isolated)), "--weights-dir", str(isolated / name),
                     "--out", str(isolated / "out")]):
        assert main.main(command) == 2
        err = capsys.readouterr().err
        one_message(err)
        assert expected in err
    assert not engine.requests


def _prompt_file(folder: Path) -> Path:
    path = folder / "prompts.txt"
    path.write_text(DEMO_PROMPT + "\n")
    return path


def test_damaged_weights_without_a_model_are_named_not_replaced_by_the_demo(
        isolated, engine, capsys):
    folder = isolated / "weights"
    folder.mkdir()
    for wf in SD_V1_4.files:
        (folder / wf.name).write_bytes(b"<html>404 Not Found</html>")
    assert main.main(generate("--weights-dir", folder, "--out", isolated / "out")) == 2
    err = capsys.readouterr().err
    one_message(err)
    assert "holds no Stable Diffusion model that can be used" in err
    assert "--model demo" in err and "is damaged: it is not an HDF5 file" in err
    assert not engine.requests
    # Named, the demo is still there for whoever asks for it.
    assert main.main(generate("--model", "demo", "--weights-dir", folder,
                              "--out", isolated / "out")) == 0
    assert [r.model for r in engine.requests] == ["demo"]


# ---------------------------------------------------------------- a history that cannot be opened

def test_a_history_that_cannot_be_opened_logs_no_traceback_before_the_message(
        isolated, engine, caplog, capsys):
    (isolated / "histfile").write_text("not a folder")
    with caplog.at_level(logging.INFO):
        code = main.main(generate("--model", "demo", "--out", isolated / "out",
                                  "--history-dir", isolated / "histfile"))
    err = capsys.readouterr().err
    assert code == 1 and "is a file, not a folder" in err and "Traceback" not in err
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not loud, [r.getMessage() for r in loud]
    assert not any(r.exc_info or "Traceback" in r.getMessage() for r in caplog.records)
    assert len(list((isolated / "out").glob("*.png"))) == 1  # the image is kept in --out


# ---------------------------------------------------------------- the folder preferences

def test_a_relative_data_folder_counts_from_the_settings_folder(isolated, monkeypatch):
    settings = isolated / "data"
    settings.mkdir()
    (settings / "settings.json").write_text(json.dumps({"data_dir": "mine",
                                                        "models_dir": "../weights"}))
    elsewhere = isolated / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert preferences.folder(preferences.DATA_DIR) == settings / "mine"
    assert preferences.folder(preferences.MODELS_DIR) == settings / "../weights"


def test_a_nul_in_a_saved_data_folder_is_ignored(isolated):
    settings = isolated / "data"
    settings.mkdir()
    (settings / "settings.json").write_text(json.dumps({"data_dir": "/tmp/a\u0000b"}))
    assert preferences.folder(preferences.DATA_DIR) is None


@pytest.mark.parametrize("key", [preferences.DATA_DIR, preferences.MODELS_DIR])
def test_a_nul_in_a_preference_folder_is_a_preference_error(isolated, key):
    with pytest.raises(preferences.PreferenceError, match="cannot contain a NUL character"):
        preferences.save(**{key: str(isolated / "a\0b")})
    with pytest.raises(preferences.PreferenceError, match="File name too long"):
        preferences.save(**{key: str(isolated / ("a" * 300))})
