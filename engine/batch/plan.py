"""A batch's jobs: every prompt line times every combination of the grid's values."""
from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass

from engine.batch.axes import PROMPT_SR, Axis
from engine.batch.errors import BatchError
from engine.batch.prompts import PromptLine
from engine.request import GenerationRequest


@dataclass(frozen=True)
class BatchJob:
    """One request of the batch. `id` is unique across runs: results are deduplicated by it."""
    id: str
    index: int  # 0-based position in the batch, for file names and the grid
    line: PromptLine
    coords: tuple[int, ...]  # the value index on each axis, in the axes' order
    request: GenerationRequest


@dataclass(frozen=True)
class BatchPlan:
    axes: tuple[Axis, ...]
    jobs: tuple[BatchJob, ...]

    @property
    def images(self) -> int:
        return sum(job.request.batch for job in self.jobs)

    def grids(self) -> list[list[BatchJob]]:
        """Per prompt line, its jobs (first axis along a row), when there are one or two axes."""
        if not 1 <= len(self.axes) <= 2:
            return []
        by_line: dict[int, list[BatchJob]] = {}
        for job in self.jobs:
            by_line.setdefault(job.line.number, []).append(job)
        return list(by_line.values())


def plan_batch(prompts: list[PromptLine], axes: list[Axis], base: GenerationRequest) -> BatchPlan:
    """Raises BatchError with every problem, each naming its line or axis, before any job runs.

    The first axis varies fastest, so with two axes the jobs of one prompt are the
    grid's cells row by row (first axis across, second axis down).
    """
    problems: list[str] = []
    base_problems = [p for p in base.validate() if p.field != "prompt"]
    problems.extend(p.message for p in base_problems)
    sr = next((a for a in axes if a.name == PROMPT_SR), None)
    if sr is not None:
        for line in prompts:
            if sr.values[0] not in line.text:
                problems.append(f"--grid {PROMPT_SR}: line {line.number}'s prompt does not contain "
                                f"{sr.values[0]!r}, the value that the others replace.")
    # A bad axis value shows once, however many prompts and combinations it meets.
    reported: set[str] = {p.field for p in base_problems}
    for axis in axes:
        if axis.name == PROMPT_SR:
            continue
        for index, text in enumerate(axis.texts):
            trial = axis.apply(base, index)
            for problem in trial.validate():
                if problem.field != "prompt" and problem.field not in reported:
                    problems.append(f"--grid {axis.name}={text}: {problem.message}")
    jobs: list[BatchJob] = []
    for line in prompts:
        for coords in itertools.product(*(range(len(a.values)) for a in reversed(axes))):
            coords = tuple(reversed(coords))
            request = base.replace(prompt=line.text)
            for axis, index in zip(axes, coords):
                request = axis.apply(request, index)
            if not problems:
                for problem in request.validate():
                    where = f"line {line.number}" if problem.field in ("prompt", "negative_prompt") \
                        else _cell(axes, coords)
                    message = f"{where}: {problem.message}"
                    if message not in problems:
                        problems.append(message)
            jobs.append(BatchJob(uuid.uuid4().hex, len(jobs), line, coords, request))
    if problems:
        raise BatchError(problems)
    return BatchPlan(tuple(axes), tuple(jobs))


def _cell(axes: list[Axis], coords: tuple[int, ...]) -> str:
    return ", ".join(f"--grid {a.name}={a.texts[i]}" for a, i in zip(axes, coords)) or "the options"
