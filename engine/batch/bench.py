"""Throughput of a demo-model batch here and on a local Ray instance, and the cost per job.

    python -m engine.batch.bench --jobs 100 --size 128 [--ray-workers 2] [--skip-local]

Overhead per job is the wall time a job takes beyond the engine's own phases
(GenerationResult.timings): saving to the folder and the history, and on Ray
the round trip, the PNG encoding and decoding.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from engine.batch.output import BatchOutput
from engine.batch.plan import plan_batch
from engine.batch.prompts import PromptLine
from engine.events import PHASES
from engine.request import GenerationRequest

PROMPTS = ("a small red circle on the left, blue background",
           "a large green square at the top, white background",
           "a yellow triangle in the centre, black background",
           "a small blue circle at the bottom right, yellow background")


def _plan(jobs: int, size: int, steps: int):
    lines = [PromptLine(i + 1, PROMPTS[i % len(PROMPTS)]) for i in range(jobs)]
    base = GenerationRequest("", seed=1, steps=steps, width=size, height=size, model="demo",
                             preview=False)
    return plan_batch(lines, [], base)


def _measure(label: str, plan, execute) -> None:
    from engine.history import HistoryStore

    with tempfile.TemporaryDirectory(prefix="sd-batch-bench-") as scratch:
        engine_seconds = []

        with HistoryStore(Path(scratch) / "history", reconcile=False) as store:
            output = BatchOutput(plan, Path(scratch), store)

            def accept(job, result):
                engine_seconds.append(sum(result.timings.get(p, 0.0) for p in PHASES))
                output.accept(job, result)

            started = time.perf_counter()
            workers = execute(accept, lambda job, message: print("failed:", message))
            wall = time.perf_counter() - started
    done = len(engine_seconds)
    # The first job on each worker loads the model; steady state leaves those out.
    steady = sorted(engine_seconds)[:max(done - workers, 1)]
    per_job = sum(steady) / len(steady)
    print(f"{label:<22} {done:>4} jobs  {wall:7.1f} s  {done / wall:6.2f} images/s  "
          f"engine {per_job:5.2f} s/job  overhead {wall * workers / done - per_job:+.2f} s/job "
          f"(incl. model loading)")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=GenerationRequest("").steps)
    parser.add_argument("--ray-workers", type=int, default=2)
    parser.add_argument("--skip-local", action="store_true")
    args = parser.parse_args(argv)
    plan = _plan(args.jobs, args.size, args.steps)
    print(f"{args.jobs} demo jobs at {args.size}x{args.size}, {args.steps} steps")
    if not args.skip_local:
        from engine.batch.local import run_here
        from engine.pipeline import Engine

        def here(accept, failed):
            run_here(Engine(), plan.jobs, accept, failed)
            return 1
        _measure("this process", plan, here)
    if args.ray_workers:
        from engine.batch.ray_cluster import WorkerPool, ray_session, run_on_cluster

        def on_ray(accept, failed):
            with ray_session("local", num_cpus=args.ray_workers) as ray, WorkerPool(ray) as pool:
                return run_on_cluster(pool, plan.jobs, accept, failed).actors
        _measure(f"Ray, {args.ray_workers} CPU workers", plan, on_ray)


if __name__ == "__main__":
    main()
