"""The queue survives `kill -9`: a process holding 5 jobs, one mid-run, dies; all 5 come back.

The child is the real thing (JobQueue in the history file, Runner, the demo model
through the Engine); its listener parks the runner at the first denoising step,
so the kill provably lands mid-job.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from engine.jobs import Finished, JobQueue, JobState, Runner
from engine.paths import HistoryLocation
from engine.request import GenerationRequest

REPO = Path(__file__).resolve().parents[2]
PROMPTS = ["a red circle", "a blue square on the left", "a green triangle",
           "a small yellow circle at the top", "a large purple square"]

CHILD = r"""
import sys, threading
from engine.history import HistoryStore
from engine.jobs import JobProgress, JobQueue, Runner
from engine.paths import HistoryLocation
from engine.pipeline import Engine
from engine.request import GenerationRequest

root = sys.argv[1]
queue = JobQueue(HistoryLocation(__import__("pathlib").Path(root)).db_path)
for prompt in sys.argv[2:]:
    queue.add(GenerationRequest(prompt, seed=3, steps=2, width=128, height=128, model="demo"))

def park(event):
    if isinstance(event, JobProgress) and event.phase == "denoising":
        print("RUNNING", event.job_id, flush=True)
        threading.Event().wait()  # mid-job until the kill

queue.subscribe(park)
Runner(queue, Engine, lambda: HistoryStore(root, reconcile=False)).run_pending()
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="kill -9 is POSIX")
def test_kill_9_mid_job_brings_all_five_back_with_the_running_one_interrupted(tmp_path):
    root = tmp_path / "history"
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(root), *PROMPTS], cwd=REPO, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = child.stdout.readline()  # blocks until the first job is mid-run (or the child died)
        assert line.startswith("RUNNING"), f"the child never started a job (exit {child.poll()})"
        running_id = int(line.split()[1])
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()

    queue = JobQueue(HistoryLocation(root).db_path)
    jobs = queue.jobs()
    assert [j.request.prompt for j in jobs] == PROMPTS
    assert [j.state for j in jobs] == [JobState.INTERRUPTED] + [JobState.PENDING] * 4
    assert jobs[0].id == running_id
    assert jobs[0].request == GenerationRequest(PROMPTS[0], seed=3, steps=2, width=128,
                                                height=128, model="demo")
    assert queue.recovered == 1 and queue.paused  # nothing reruns on its own after a crash

    # The one click: run it again; the queue goes on with the other four.
    assert queue.retry(running_id)
    from engine.history import HistoryStore
    from engine.pipeline import Engine
    finished = []
    queue.subscribe(lambda e: isinstance(e, Finished) and finished.append(e))
    Runner(queue, Engine, lambda: HistoryStore(root, reconcile=False)).run_pending()
    assert [e.job_id for e in finished][0] == running_id
    assert [e.request.prompt for e in finished] == PROMPTS
    assert queue.jobs() == []
    with HistoryStore(root) as store:
        assert store.count() == 5
