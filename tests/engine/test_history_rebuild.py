"""Rebuilds and recoveries keep favourites, trash and other modules' tables, whatever interrupts them.

Seen before (issue 13): a SIGKILL or Ctrl+C during `history rebuild --from-images` lost every
favourite; a rebuild while the window had the store open lost later favourites and gave the
other process "database disk image is malformed"; an emptied database came back without its
favourites; hundreds of set-aside files piled up.
"""
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import main
from engine.events import GeneratedImage, GenerationResult
from engine.history import Filters, HistoryStore
from engine.history import reconcile as reconcile_module
from engine.request import GenerationRequest
from tests.bounds import CHILD_S

REPO = Path(__file__).resolve().parents[2]
JOBS = "CREATE TABLE jobs (id INTEGER PRIMARY KEY, state TEXT NOT NULL, request_json TEXT)"


def fill(root, batches=10):
    """Batches of 4, a favourite in each of the first five, three images in the trash, and a
    table the history does not own (issue 15's job queue lives in the same file)."""
    with HistoryStore(root) as store:
        rng = np.random.default_rng(0)
        for n in range(batches):
            request = GenerationRequest(prompt=f"scene {n}", seed=n * 10, batch=4)
            images = [GeneratedImage(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8), s)
                      for s in request.seeds()]
            records = store.add_result(GenerationResult(request, images, "sd-v1.4", "CPU"))
            if n < 5:
                store.set_favorite(records[n % 4].id, True)
            if n == 6:
                store.delete([r.id for r in records[:3]])
        store._conn().execute(JOBS)
        store._conn().executemany("INSERT INTO jobs (state, request_json) VALUES (?, ?)",
                                  [("queued", '{"prompt": "a"}'), ("done", '{"prompt": "b"}')])
    return state(root)


def state(root):
    """What must never be lost: every image, each favourite, the trash, the job rows."""
    with HistoryStore(root, reconcile=False) as store:
        live = store.page(0, 10_000)
        trash = store.page(0, 10_000, Filters(trash=True))
        jobs = store._conn().execute("SELECT id, state, request_json FROM jobs ORDER BY id").fetchall()
        assert store._conn().execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return {"images": sorted(r.path.name for r in live),
                "favorites": sorted(r.path.name for r in live if r.favorite),
                "trash": sorted(r.path.name for r in trash),
                "jobs": [tuple(j) for j in jobs]}


REBUILDER = r"""
import sys, time
from engine.history import HistoryStore
from engine.history import rebuild as rebuild_module

real_swap = rebuild_module._swap

def announced_swap(*args):
    print("swap", flush=True)
    if float(sys.argv[2]) > 0:
        time.sleep(float(sys.argv[2]) / 10)  # widen the window the kill aims at
    return real_swap(*args)

rebuild_module._swap = announced_swap
store = HistoryStore(sys.argv[1], reconcile=False)
while True:
    print("rebuild", flush=True)
    store.rebuild()
"""


def _as_a_terminal_starts_it():
    """A command typed at a terminal starts with Ctrl+C's default action. The test runner
    may not have it: a runner started in the background by a script (CI, `cmd &`) inherits
    SIGINT *ignored*, exec passes that on, and a Python started so installs no
    KeyboardInterrupt handler. The Ctrl+C cases would then test nothing and wait forever."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _spawn(code: str, *args) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_as_a_terminal_starts_it)


def _interrupt(root, when, delay, sig):
    child = _spawn(REBUILDER, root, delay)
    try:
        while True:
            line = child.stdout.readline()
            assert line, f"rebuilder stopped early: {child.stderr.read()}"
            if line.split()[0] == when:
                break
        time.sleep(delay)
    finally:
        child.send_signal(sig)
        child.wait(timeout=CHILD_S)
        child.stdout.close()
        child.stderr.close()


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_a_rebuild_killed_at_any_moment_loses_nothing(tmp_path):
    root = tmp_path / "hist"
    before = fill(root)
    assert len(before["favorites"]) == 5 and len(before["trash"]) == 3
    # While it reads the images, and at several points inside the swap transaction.
    moments = [("rebuild", 0.0), ("rebuild", 0.05), ("rebuild", 0.15), ("swap", 0.0),
               ("swap", 0.002), ("swap", 0.01), ("swap", 0.03)]
    for when, delay in moments:
        _interrupt(root, when, delay, signal.SIGKILL)
        assert state(root) == before, (when, delay)
    _interrupt(root, "swap", 0.002, signal.SIGINT)  # Ctrl+C
    assert state(root) == before
    assert not list(root.glob("history.sqlite3.*-*"))  # nothing set aside


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX signals")
def test_the_child_gets_ctrl_c_even_when_the_runner_ignores_it(tmp_path):
    """The cause of issue 32: a runner with SIGINT ignored made the Ctrl+C case hang."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        child = _spawn("import signal; print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)")
        out, err = child.communicate(timeout=CHILD_S)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert out.strip() == "True", err


CLI_REBUILD = r"""
import sys, time
import main
from engine.history import rebuild as rebuild_module

real_swap = rebuild_module._swap

def announced_swap(*args):
    print("swap", flush=True)
    time.sleep(0.5)  # Ctrl+C lands inside the swap's transaction
    return real_swap(*args)

rebuild_module._swap = announced_swap
sys.exit(main.main(["history", "rebuild", "--from-images", "--history-dir", sys.argv[1]]))
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX signals")
def test_ctrl_c_during_cli_rebuild_stops_it_at_once_and_keeps_the_history(tmp_path):
    root = tmp_path / "hist"
    before = fill(root)
    child = _spawn(CLI_REBUILD, root)
    try:
        line = child.stdout.readline()
        assert line.strip() == "swap", child.stderr.read()
        child.send_signal(signal.SIGINT)
        sent = time.monotonic()
        out, err = child.communicate(timeout=CHILD_S)  # a bound against a hang; 5 s is the claim
    finally:
        child.kill()
    assert time.monotonic() - sent < 5, "Ctrl+C took more than 5 s to stop the rebuild"
    assert child.returncode == 130, err
    assert "Traceback" not in err and "Stopped" in err
    assert state(root) == before


def test_rebuild_while_another_process_has_the_store_open(tmp_path):
    """This process plays the window: it keeps its store, reads and marks favourites while
    another process rebuilds; nothing it did is lost and its ids stay good."""
    root = tmp_path / "hist"
    fill(root)
    script = ("import sys\nfrom engine.history import HistoryStore\n"
              "s = HistoryStore(sys.argv[1], reconcile=False)\n"
              "for n in range(4):\n    s.rebuild()\nprint('done', flush=True)\n")
    with HistoryStore(root) as window:
        records = window.page(0, 100)
        names = {r.id: r.path.name for r in records}
        child = _spawn(script, root)
        marked = []
        deadline = time.monotonic() + CHILD_S
        while child.poll() is None and time.monotonic() < deadline:
            record = records[len(marked) % len(records)]
            window.set_favorite(record.id, True)
            marked.append(record.path.name)
            assert window.count() == len(records)
            assert all(names[r.id] == r.path.name for r in window.page(0, 100))
            time.sleep(0.02)
        out, err = child.communicate(timeout=CHILD_S)
        assert child.returncode == 0 and "done" in out, err
        favorites = {r.path.name for r in window.page(0, 100) if r.favorite}
        assert set(marked) <= favorites
        assert window._conn().execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        # A change after the rebuild reaches the file everyone else opens.
        window.set_favorite(records[0].id, False)
    after = state(root)  # as the next process to open the folder sees it
    assert records[0].path.name not in after["favorites"]
    assert set(marked) - {records[0].path.name} <= set(after["favorites"])
    assert len(after["images"]) == len(records)


def test_an_emptied_database_gets_its_favorites_and_trash_back(tmp_path):
    root = tmp_path / "hist"
    before = fill(root)
    for suffix in ("-wal", "-shm"):
        (root / f"history.sqlite3{suffix}").unlink(missing_ok=True)
    (root / "history.sqlite3").write_bytes(b"")  # an empty file is a valid, empty database
    with HistoryStore(root) as store:
        assert store.last_report.marks_restored >= 5
        store._conn().execute(JOBS)  # gone with the file: only the images and marks come back
        store._conn().executemany("INSERT INTO jobs (state, request_json) VALUES (?, ?)",
                                  [("queued", '{"prompt": "a"}'), ("done", '{"prompt": "b"}')])
    assert state(root) == before


def _damage_an_index(db):
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    index_page = conn.execute(
        "SELECT rootpage FROM sqlite_master WHERE name = 'images_by_created'").fetchone()[0]
    conn.close()
    data = bytearray(db.read_bytes())
    data[(index_page - 1) * page_size:index_page * page_size] = b"\xff" * page_size
    db.write_bytes(bytes(data))


def test_recovery_from_damage_keeps_favorites_trash_and_other_tables(tmp_path):
    root = tmp_path / "hist"
    before = fill(root)
    _damage_an_index(root / "history.sqlite3")
    with HistoryStore(root) as store:
        assert store.damaged_db is not None
    assert state(root) == before


def test_garbage_database_recovery_keeps_favorites_from_the_journal(tmp_path):
    root = tmp_path / "hist"
    before = fill(root)
    for suffix in ("-wal", "-shm"):
        (root / f"history.sqlite3{suffix}").unlink(missing_ok=True)
    (root / "history.sqlite3").write_bytes(os.urandom(8192))
    with HistoryStore(root) as store:
        assert store.damaged_db is not None
        live = store.page(0, 1000)
        assert sorted(r.path.name for r in live if r.favorite) == before["favorites"]
        assert sorted(r.path.name for r in store.page(0, 1000, Filters(trash=True))) == before["trash"]


def test_a_recovery_interrupted_between_its_renames_finishes_at_the_next_open(tmp_path, monkeypatch):
    root = tmp_path / "hist"
    before = fill(root)
    _damage_an_index(root / "history.sqlite3")
    real_replace = os.replace

    def crash_after_setting_aside(source, target):
        if str(source).endswith(".new"):
            raise KeyboardInterrupt  # as if killed after the old file was moved aside
        return real_replace(source, target)

    monkeypatch.setattr(reconcile_module.os, "replace", crash_after_setting_aside)
    with pytest.raises(KeyboardInterrupt):
        HistoryStore(root)
    monkeypatch.undo()
    assert not (root / "history.sqlite3").exists() and (root / "history.sqlite3.new").exists()
    with HistoryStore(root, reconcile=False) as store:  # even `history show` finishes the job
        assert store.damaged_db is not None
    assert state(root) == before


def test_set_aside_databases_do_not_pile_up(tmp_path):
    root = tmp_path / "hist"
    fill(root, batches=1)
    for _ in range(6):
        for suffix in ("-wal", "-shm"):
            (root / f"history.sqlite3{suffix}").unlink(missing_ok=True)
        (root / "history.sqlite3").write_bytes(os.urandom(4096))
        HistoryStore(root).close()
    aside = [p for p in root.glob("history.sqlite3.damaged-*") if not p.name.endswith(("-wal", "-shm"))]
    assert 1 <= len(aside) <= reconcile_module.SET_ASIDE_KEPT


def test_cli_rebuild_from_images_keeps_favorites(tmp_path, capsys):
    root = tmp_path / "hist"
    before = fill(root)
    assert main.main(["history", "rebuild", "--from-images", "--history-dir", str(root)]) == 0
    assert "40 imported" in capsys.readouterr().out
    assert state(root) == before
