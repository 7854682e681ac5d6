"""How the cluster loop treats a worker that Ray is restarting, with a stand-in for Ray:
each case is exact and takes milliseconds (test_batch_ray.py kills real workers)."""
from __future__ import annotations

import io
import itertools

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("ray")
from ray.exceptions import RayActorError  # noqa: E402

import engine.batch.ray_cluster as cluster  # noqa: E402
from engine.batch.plan import plan_batch  # noqa: E402
from engine.batch.prompts import parse_prompts  # noqa: E402
from engine.request import GenerationRequest  # noqa: E402


class Ref:
    def __init__(self, answer):
        self.answer = answer


class Method:
    def __init__(self, answer):
        self._answer = answer

    def remote(self, *args):
        return Ref(self._answer(*args))


class Actor:
    """Fails its first `dead_pings` pings, as a worker killed again and again while it
    restarts; then answers and runs jobs."""

    _pids = itertools.count(100)

    def __init__(self, dead_pings: int):
        self.dead_pings = dead_pings
        self.pid = Method(self._ping)
        self.run = Method(self._run)

    def _ping(self):
        if self.dead_pings > 0:
            self.dead_pings -= 1
            return RayActorError()
        return next(self._pids)

    @staticmethod
    def _run(job_id, request, board):
        png = io.BytesIO()
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(png, format="PNG")
        return {"pngs": [(request["seed"], png.getvalue())], "model_label": "demo",
                "device": "CPU", "timings": {}}


class Ray:
    def wait(self, refs, num_returns=1, timeout=None):
        return refs[:1], refs[1:]

    def get(self, ref):
        if isinstance(ref.answer, Exception):
            raise ref.answer
        return ref.answer


def run(actors, monkeypatch):
    monkeypatch.setattr(cluster, "PING_PAUSE_S", 0.0)
    plan = plan_batch(parse_prompts("a red circle\na blue square\n"), [],
                      GenerationRequest("", steps=2, width=128, height=128, model="demo"))
    pool = type("Pool", (), {"ray": Ray(), "actors": actors, "board": None})()
    done, failed = [], []
    cluster.run_on_cluster(pool, plan.jobs, lambda job, result: done.append(job.id),
                           lambda job, message: failed.append(message))
    return plan, done, failed


def test_a_worker_killed_three_times_while_restarting_is_waited_for(monkeypatch):
    """Three failed asks in a row used to drop the worker, and with it every waiting job
    ("no Ray worker could start"), although Ray brings it back."""
    plan, done, failed = run([Actor(dead_pings=3)], monkeypatch)
    assert failed == [] and sorted(done) == sorted(job.id for job in plan.jobs)


def test_a_worker_that_never_comes_back_is_given_up_after_the_wait(monkeypatch):
    monkeypatch.setattr(cluster, "RESTART_WAIT_S", 0.2)
    monkeypatch.setattr(cluster, "PING_PAUSE_S", 0.0)
    plan, done, failed = run([Actor(dead_pings=10**9)], monkeypatch)
    assert done == [] and failed == ["no Ray worker could start (see the Ray logs)"] * len(plan.jobs)
