"""`generate --out`: when the folder cannot take the images, none is lost and one line says where they are."""
from __future__ import annotations

import errno
import os
import time
from pathlib import Path

import numpy as np
import pytest

import main
from engine import out_folder
from engine.events import GeneratedImage, GenerationResult
from engine.history import HistoryStore


class FakeEngine:
    def device_name(self):
        return "CPU"

    def backend_name(self):
        return "tensorflow"

    def generate(self, request, on_progress=None, cancel=None):
        rng = np.random.default_rng(request.seed)
        images = [GeneratedImage(rng.integers(0, 256, (request.height, request.width, 3), np.uint8), s)
                  for s in request.seeds()]
        return GenerationResult(request, images, request.model, "CPU")


@pytest.fixture
def cli(tmp_path, monkeypatch, capsys):
    from engine.commands import generate

    monkeypatch.setattr(generate, "make_engine", lambda args: FakeEngine())
    history = tmp_path / "history"

    def run(*extra, out=None):
        out = out or tmp_path / "out"
        code = main.main(["generate", "--prompt", "a red circle", "--model", "demo", "--seed", "7",
                          "--width", "128", "--height", "128", "--batch", "2", "--steps", "1",
                          "--out", str(out), "--history-dir", str(history), *extra])
        captured = capsys.readouterr()
        return code, captured.out, captured.err
    run.history = history
    return run


def fail_writes_under(monkeypatch, folder: Path, error_number: int, after: int = 0):
    """os.open of a new file under `folder` fails like a full or read-only disk, after `after` files."""
    real_open = os.open
    opened = []

    def guarded(path, flags, *args, **kwargs):
        if flags & os.O_CREAT and Path(path).parent == folder:
            if len(opened) >= after:
                raise OSError(error_number, os.strerror(error_number), str(path))
            opened.append(path)
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", guarded)


def history_images(history: Path) -> list[Path]:
    with HistoryStore(history, reconcile=False) as store:
        return [r.path for r in store.page(0, 100)]


@pytest.mark.parametrize("error_number", [errno.ENOSPC, errno.EROFS, errno.EACCES])
def test_an_out_folder_that_refuses_the_images_leaves_them_in_the_history(cli, tmp_path, monkeypatch,
                                                                          error_number):
    out = tmp_path / "out"
    fail_writes_under(monkeypatch, out, error_number, after=1)  # the probe passes: it fails later
    code, stdout, stderr = cli()
    assert code == 1
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr
    assert lines[0].startswith(f"error: cannot write to the output folder {out}: "
                               f"{os.strerror(error_number)}")
    kept = history_images(cli.history)
    assert len(kept) == 2 and all(p.is_file() for p in kept)
    assert f"the 2 image(s) are in the history: {kept[0].parent}" in lines[0]
    assert sorted(stdout.split()) == sorted(map(str, kept))  # stdout lists where they really are
    assert not list(out.glob("*.png")) and not list(out.glob(".tmp-*"))


def test_a_disk_that_fills_part_way_says_how_many_reached_out(cli, tmp_path, monkeypatch):
    out = tmp_path / "out"
    fail_writes_under(monkeypatch, out, errno.ENOSPC, after=2)  # the probe, then one image
    code, stdout, stderr = cli()
    assert code == 1 and "1 written there before it failed" in stderr
    assert len([p for p in out.glob("*.png") if not p.name.startswith(".")]) == 1 and len(history_images(cli.history)) == 2


def test_with_no_history_the_history_still_rescues_the_images(cli, tmp_path, monkeypatch):
    out = tmp_path / "out"
    fail_writes_under(monkeypatch, out, errno.ENOSPC, after=1)  # the probe passes
    code, stdout, stderr = cli("--no-history")
    assert code == 1 and "the 2 image(s) are in the history" in stderr
    assert len(history_images(cli.history)) == 2


def test_an_unwritable_out_is_refused_before_the_model_runs(cli, tmp_path, monkeypatch):
    from engine.commands import generate

    calls = []
    monkeypatch.setattr(generate, "make_engine", lambda args: calls.append(1))
    out = tmp_path / "out"
    fail_writes_under(monkeypatch, out, errno.EROFS)  # the probe cannot be written
    code, _, stderr = cli()
    assert code == 2 and not calls
    assert stderr.strip() == (f"error: Cannot write to the output folder {out}: "
                              f"{os.strerror(errno.EROFS)}.")
    assert not out.exists()  # the folder it made for the probe is gone again


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
def test_a_read_only_out_folder_is_refused_without_creating_anything(cli, tmp_path):
    parent = tmp_path / "locked"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        code, _, stderr = cli(out=parent / "out")
    finally:
        parent.chmod(0o755)
    assert code == 2 and "cannot be written (permission denied)" in stderr
    assert not (parent / "out").exists()


def test_temporary_files_a_killed_save_left_are_removed_and_live_ones_kept(cli, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    stale = out / ".tmp-0123abcd.png"
    stale.write_bytes(b"")
    old = time.time() - out_folder.STALE_TEMP_SECONDS - 60
    os.utime(stale, (old, old))
    live = out / ".tmp-4567ef01.png"  # another process may be writing this one right now
    live.write_bytes(b"")
    code, _, _ = cli()
    assert code == 0
    assert not stale.exists() and live.exists()
    assert len([p for p in out.glob("*.png") if not p.name.startswith(".")]) == 2
