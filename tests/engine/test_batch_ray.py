"""Batches on a local Ray instance (2 CPU workers, the demo model): every image arrives
once, even when a worker is killed mid-batch."""
import collections
import os
import signal

import pytest

ray = pytest.importorskip("ray")

import main
from engine.batch.axes import parse_axes
from engine.batch.output import BatchOutput
from engine.batch.plan import plan_batch
from engine.batch.progress import BatchProgress
from engine.batch.prompts import parse_prompts
from engine.batch.ray_cluster import WorkerPool, run_on_cluster
from engine.history import HistoryStore
from engine.request import GenerationRequest
from tests.engine.test_batch_cli import PROMPTS, SMALL, check_outputs


@pytest.fixture(scope="module")
def local_ray():
    """One small Ray instance for this file: two CPU workers, little shared memory. Shut down
    after it, so its daemons do not take CPU from the rest of the session."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             object_store_memory=80 * 1024**2, logging_level="ERROR")
    yield ray
    ray.shutdown()


def test_ray_local_batch_writes_one_png_per_job_each_in_the_history_once(local_ray, tmp_path, capsys):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text(PROMPTS)
    out, history = tmp_path / "out", tmp_path / "history"
    code = main.main(["batch", str(prompts), *SMALL, "--grid", "steps=2,3", "--ray", "local",
                      "--out", str(out), "--history-dir", str(history)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    check_outputs(out, history, jobs=4)
    assert "2 Ray worker(s)" in captured.err and "4/4 jobs" in captured.err
    assert len(list(out.glob("grid-*.png"))) == 2
    assert ray.is_initialized()  # the session's instance is shared, not shut down by the command


def test_a_worker_killed_mid_job_loses_no_image_and_saves_none_twice(local_ray, tmp_path):
    base = GenerationRequest("", seed=3, steps=12, width=128, height=128, model="demo",
                             preview=False)
    plan = plan_batch(parse_prompts(PROMPTS), parse_axes(["seed=1,2"]), base)
    dispatches = []
    killed = []

    def dispatched(job, pid):
        dispatches.append((job.id, pid))
        # The third dispatch goes to a worker that has just finished a job (its model
        # is loaded). Kill it at once: the job cannot have finished yet, whereas after a
        # pause a fast job sometimes had, and there was nothing left to run again.
        if len(dispatches) == 3 and not killed:
            os.kill(pid, signal.SIGKILL)
            killed.append((job.id, pid))

    with HistoryStore(tmp_path / "history", reconcile=False) as store:
        output = BatchOutput(plan, tmp_path / "out", store)
        (tmp_path / "out").mkdir()
        failures = []
        with WorkerPool(local_ray) as pool:
            run = run_on_cluster(pool, plan.jobs, output.accept,
                                 lambda job, message: failures.append(message),
                                 on_dispatch=dispatched)
    assert failures == [] and killed
    job_id, pid = killed[0]
    assert run.reruns == [job_id]
    sent = [p for j, p in dispatches if j == job_id]
    assert len(sent) == 2 and sent[1] != pid  # ran again, in another worker process
    assert collections.Counter(j for j, _ in dispatches)[job_id] == 2
    assert set(output.outcomes) == {j.id for j in plan.jobs} and output.duplicates == 0
    check_outputs(tmp_path / "out", tmp_path / "history", jobs=len(plan.jobs))


def test_a_result_sent_twice_is_saved_once(tmp_path):
    """The dedupe itself, without a cluster: a rerun's late copy of a job is dropped."""
    from engine.events import GeneratedImage, GenerationResult
    import numpy as np

    plan = plan_batch(parse_prompts("a red circle\n"), [], GenerationRequest(
        "", steps=2, width=128, height=128, model="demo"))
    job = plan.jobs[0]
    result = GenerationResult(job.request, [GeneratedImage(np.zeros((128, 128, 3), np.uint8), 0)],
                              "demo", "CPU")
    with HistoryStore(tmp_path / "history", reconcile=False) as store:
        output = BatchOutput(plan, tmp_path, store)
        assert len(output.accept(job, result)) == 1
        assert output.accept(job, result) == [] and output.duplicates == 1
        assert store.count() == 1
    assert len(list(tmp_path.glob("*.png"))) == 1


def test_the_one_progress_bar_moves_with_each_workers_steps(local_ray, monkeypatch):
    import engine.batch.ray_cluster as cluster
    # Read the steps often, so that every job is seen mid-way however fast the demo runs.
    monkeypatch.setattr(cluster, "STEP_POLL_SECONDS", 0.01)
    base = GenerationRequest("", seed=3, steps=12, width=128, height=128, model="demo",
                             preview=False)
    plan = plan_batch(parse_prompts(PROMPTS), parse_axes(["seed=1,2"]), base)
    shown, steps, failures = [], [], []
    progress = BatchProgress(len(plan.jobs), lambda fraction, _text: shown.append(fraction))

    def stepped(job, fraction):
        steps.append((job.id, fraction))
        progress.job_step(fraction, job.id)
    with WorkerPool(local_ray) as pool:
        run_on_cluster(pool, plan.jobs, lambda job, _result: progress.job_finished(job=job.id),
                       lambda job, message: failures.append(message), on_step=stepped)
    assert failures == []
    mid_job = [(job_id, f) for job_id, f in steps if 0 < f < 1]
    assert mid_job and {job_id for job_id, _ in steps} <= {job.id for job in plan.jobs}
    assert shown == sorted(shown) and shown[-1] == 1.0
    jobs = len(plan.jobs)
    assert any(round(f * jobs, 6) % 1 for f in shown)  # the bar moved between two job ends
