"""Issue 31, inputs 4: the queue after kill -9. A job killed after its images were saved (or
written but not yet committed) and run again finishes from what the history holds instead
of making a second copy; a batch killed half-saved makes only the rest. A job whose stored
request cannot be read is listed as damaged and announced, never silently dropped; and
`history rebuild --from-images` on a file with a malformed schema entry keeps the queue.

The children are the real thing (JobQueue in the history file, Runner, HistoryStore, the demo
model through the Engine), parked at the named moment and killed there, as in
test_jobs_crash.py."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import main
from engine.history import HistoryStore
from engine.jobs import ENDINGS, Finished, JobDamaged, JobQueue, JobState, Runner
from engine.paths import HistoryLocation
from engine.request import GenerationRequest
from tests.bounds import CHILD_S

REPO = Path(__file__).resolve().parents[2]

CHILD = r"""
import sys, threading
from engine.history import HistoryStore
from engine.history import store as store_module
from engine.jobs import JobQueue, Runner
from engine.paths import HistoryLocation
from engine.pipeline import Engine
from engine.request import GenerationRequest

root, moment, batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
queue = JobQueue(HistoryLocation(__import__("pathlib").Path(root)).db_path)
queue.add(GenerationRequest("a red circle", seed=3, steps=2, width=128, height=128,
                            model="demo", batch=batch))

def park(what):
    print(what, flush=True)
    threading.Event().wait()  # until the kill

real_insert, inserted = store_module._insert_image, []

def insert(*args):
    # "uncommitted": the file is in place, its row's transaction not yet committed.
    # "half": the first image committed, the second one's file written, its row not.
    if moment == "uncommitted" or (moment == "half" and inserted):
        park("WRITTEN")
    inserted.append(1)
    return real_insert(*args)
store_module._insert_image = insert

class Parked(HistoryStore):
    def add_result(self, *args, **kwargs):
        records = super().add_result(*args, **kwargs)
        park("SAVED")  # committed; the queue has not heard yet
        return records

history = Parked if moment == "saved" else HistoryStore
Runner(queue, Engine, lambda: history(root, reconcile=False)).run_pending()
"""


def kill_at(root: Path, moment: str, batch: int = 1) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(root), moment, str(batch)],
                             cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        line = child.stdout.readline()  # blocks until parked (or the child died)
        assert line.strip() in ("SAVED", "WRITTEN"), \
            f"the child never got there (exit {child.poll()}): {child.stderr.read()[-2000:]}"
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(CHILD_S) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def pngs(root: Path) -> list[Path]:
    return sorted((root / "images").rglob("*.png"))


def no_engine():
    raise AssertionError("the engine was loaded for a job whose images were saved")


def run_again(root: Path, engine_factory) -> list:
    queue = JobQueue(HistoryLocation(root).db_path)
    [job] = queue.jobs()
    assert job.state is JobState.INTERRUPTED and job.uid
    endings = []
    queue.subscribe(lambda e: isinstance(e, ENDINGS) and endings.append(e))
    assert queue.retry(job.id)
    runner = Runner(queue, engine_factory, lambda: HistoryStore(root, reconcile=False))
    try:
        runner.run_pending()
    finally:
        runner.close()
    assert queue.jobs() == []
    queue.close()
    return endings


pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="kill -9 is POSIX")


@pytest.mark.parametrize("moment", ["saved", "uncommitted"])
def test_a_job_killed_after_saving_its_image_is_not_made_twice(tmp_path, moment):
    root = tmp_path / "history"
    kill_at(root, moment)
    [written] = pngs(root)
    endings = run_again(root, no_engine)
    [finished] = endings
    assert isinstance(finished, Finished) and len(finished.entry_ids) == 1
    assert pngs(root) == [written], "one image, the one the first run wrote"
    assert finished.result.images[0].pixels.shape == (128, 128, 3)
    with HistoryStore(root) as store:
        assert store.count() == 1
        assert [r.path for r in store.page()] == [written]
        assert store.get(finished.entry_ids[0]).request.prompt == "a red circle"


def test_a_batch_killed_half_saved_makes_only_the_rest(tmp_path):
    from engine.pipeline import Engine
    root = tmp_path / "history"
    kill_at(root, "half", batch=2)
    first_run = pngs(root)
    assert len(first_run) == 2  # the second file written, its row not committed
    os.unlink(first_run[1])  # as if killed before that file was renamed into place
    endings = run_again(root, Engine)
    [finished] = endings
    assert isinstance(finished, Finished) and len(finished.entry_ids) == 2
    now = pngs(root)
    assert len(now) == 2 and first_run[0] in now
    uid = first_run[0].name.split("-")[-2]
    assert sorted(p.name.rsplit("-", 1)[1] for p in now) == ["0.png", "1.png"]
    assert all(f"-{uid}-" in p.name for p in now)
    with HistoryStore(root) as store:
        assert store.count() == 2
        assert sorted(r.seed for r in store.page()) == [3, 4]


# ---------------------------------------------------------------- a damaged row

def test_a_job_that_cannot_be_read_is_listed_as_damaged_and_announced(tmp_path):
    db = HistoryLocation(tmp_path / "history").db_path
    queue = JobQueue(db)
    bad = queue.add(GenerationRequest("a red circle", model="demo"))
    good = queue.add(GenerationRequest("a blue square", model="demo"))
    queue.close()
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE jobs SET request_json = ? WHERE id = ?", ("{\"prompt\": [[[", bad.id))
    queue = JobQueue(db)
    events = []
    queue.subscribe(events.append)
    assert [(j.id, j.state) for j in queue.jobs()] == [(bad.id, JobState.DAMAGED),
                                                       (good.id, JobState.PENDING)]
    assert [j.id for j in queue.waiting()] == [good.id]
    assert "damaged" in queue.jobs()[0].describe()
    taken = queue.take()
    assert taken.id == good.id and taken.request.prompt == "a blue square"
    damaged = [e for e in events if isinstance(e, JobDamaged)]
    assert [e.job_id for e in damaged] == [bad.id]
    assert f"#{bad.id} is damaged" in damaged[0].message and "Remove it" in damaged[0].message
    queue.finish(taken.id, JobState.DONE)
    assert queue.take() is None  # passed over, not run and not looped on
    assert [j.id for j in queue.damaged()] == [bad.id]
    assert not queue.retry(bad.id)
    assert queue.remove(bad.id) and queue.jobs() == []


def test_a_queue_kept_before_uids_gains_the_column(tmp_path):
    db = tmp_path / "old.sqlite3"
    with sqlite3.connect(db) as conn:
        conn.execute("""CREATE TABLE jobs (id INTEGER PRIMARY KEY, queue TEXT NOT NULL,
                        position REAL NOT NULL, state TEXT NOT NULL, request_json TEXT NOT NULL,
                        created REAL NOT NULL)""")
        conn.execute("INSERT INTO jobs VALUES (1, 'window', 1, 'pending', ?, 0)",
                     (GenerationRequest("a red circle", model="demo").to_json(),))
    queue = JobQueue(db)
    job = queue.take()
    assert job.id == 1 and len(job.uid) == 12 and not job.ran_before
    queue.finish(job.id, JobState.INTERRUPTED)
    assert queue.retry(job.id)
    again = queue.take()
    assert again.uid == job.uid and again.ran_before


# ---------------------------------------------------------------- rebuild keeps the queue

def test_rebuild_from_images_with_a_malformed_schema_entry_keeps_the_queue(tmp_path, capsys):
    root = tmp_path / "history"
    HistoryStore(root).close()
    queue = JobQueue(HistoryLocation(root).db_path)
    prompts = ["a red circle", "a blue square", "a green triangle"]
    for prompt in prompts:
        queue.add(GenerationRequest(prompt, model="demo"))
    queue.close()
    conn = sqlite3.connect(HistoryLocation(root).db_path)
    conn.execute("PRAGMA writable_schema = ON")
    conn.execute("UPDATE sqlite_master SET sql = 'CREATE TABLE images(id INTEGER PRIMARY KEY, "
                 "oops' WHERE name = 'images'")
    conn.commit()
    conn.close()
    assert main.main(["history", "rebuild", "--from-images", "--history-dir", str(root)]) == 0
    assert "was damaged" in capsys.readouterr().err
    queue = JobQueue(HistoryLocation(root).db_path)
    assert [j.request.prompt for j in queue.jobs()] == prompts
    queue.close()
