"""A batch run in this process, one job after another on one engine."""
from __future__ import annotations

from typing import Callable, Iterable

from engine.batch.plan import BatchJob
from engine.events import GenerationResult, Progress


def run_here(engine, jobs: Iterable[BatchJob],
             on_result: Callable[[BatchJob, GenerationResult], None],
             on_failed: Callable[[BatchJob, str], None],
             on_step: Callable[[float], None] = lambda fraction: None) -> None:
    """Engine.generate per job; the caller saves each result (to the folder and the history).

    Issue 15's job runner (engine/jobs) is meant to take this loop's place.
    An EngineError fails its job alone; the batch goes on.
    """
    from engine.events import EngineError

    def step(progress: Progress) -> None:
        if progress.phase == "denoising":
            on_step(progress.step / max(progress.total, 1))

    for job in jobs:
        try:
            result = engine.generate(job.request, on_progress=step)
        except EngineError as error:
            on_failed(job, str(error))
            continue
        on_result(job, result)
