"""A batch run in this process, one job after another on one engine, through engine/jobs' runner."""
from __future__ import annotations

from typing import Callable, Iterable

from engine.batch.plan import BatchJob
from engine.events import GenerationResult


def run_here(engine, jobs: Iterable[BatchJob],
             on_result: Callable[[BatchJob, GenerationResult], None],
             on_failed: Callable[[BatchJob, str], None],
             on_step: Callable[[BatchJob, float], None] = lambda job, fraction: None) -> None:
    """Each job through the same Runner as `generate` and the window; the caller saves each
    result (to the folder and the history). A failure fails its job alone, worded as the
    window words it; the batch goes on. `on_step(job, fraction)` after each denoising step."""
    from engine.errors import InvalidRequest
    from engine.jobs import Failed, Finished, JobProgress, JobQueue, Runner

    queue = JobQueue()  # in memory: the batch's plan file is what a person re-runs
    running: list[BatchJob] = []
    queue.subscribe(lambda e: isinstance(e, JobProgress) and e.phase == "denoising"
                    and on_step(running[-1], e.step / max(e.total, 1)))
    runner = Runner(queue, lambda: engine)
    for job in jobs:
        running.append(job)
        try:
            queue.add(job.request)
        except InvalidRequest as error:  # the plan checks this too; never lose a job silently
            on_failed(job, str(error))
            continue
        taken = queue.take()
        if taken is None:
            on_failed(job, "The job could not be read back from the queue.")
            continue
        ending = runner.run(taken)
        if isinstance(ending, Finished):
            on_result(job, ending.result)
        else:
            on_failed(job, ending.message if isinstance(ending, Failed) else "Cancelled.")
