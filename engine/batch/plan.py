"""A batch's jobs: every prompt line times every combination of the grid's values."""
from __future__ import annotations

import itertools
import math
import uuid
from dataclasses import dataclass

from engine.batch.axes import PROMPT_SR, Axis
from engine.batch.errors import BatchError
from engine.batch.prompts import PromptLine
from engine.request import GenerationRequest

# Every job is an image, seconds of work (minutes for Stable Diffusion on a CPU), and a request
# held in memory until the batch ends: ten thousand is a day of Stable Diffusion on a GPU, and
# a plan beyond it is nearly always a slip (a range written out as values, one axis too many).
# Refused before a single job is made, so a million-cell grid costs nothing.
MAX_JOBS = 10_000
# A grid image is drawn whole in memory: A1111's own limit on one (its img_max_size_mp).
MAX_GRID_PIXELS = 200_000_000
# Problems listed before "and N more": a file of bad lines should not flood the terminal.
MAX_LISTED_PROBLEMS = 20


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
    count = len(prompts) * math.prod(len(a.values) for a in axes)
    if count > MAX_JOBS:
        sizes = " x ".join([f"{len(prompts):,} prompt line(s)"] + [f"{len(a.values):,} {a.name}"
                                                                   for a in axes])
        problems.append(f"The batch would make {count:,} jobs ({sizes}); a batch makes at most "
                        f"{MAX_JOBS:,}. Split the prompt file or give fewer grid values.")
        raise BatchError(_shortened(problems))
    problems.extend(_grid_problems(axes, base))
    check_jobs = not problems  # a bad option or axis would otherwise be named once per job
    checked: set[tuple[str, str, str]] = set()
    rules: dict = {}  # per model
    seen: set[str] = set()
    job_problems: list[str] = []
    jobs: list[BatchJob] = []
    for line in prompts:
        for coords in itertools.product(*(range(len(a.values)) for a in reversed(axes))):
            coords = tuple(reversed(coords))
            request = base.replace(prompt=line.text)
            for axis, index in zip(axes, coords):
                request = axis.apply(request, index)
            if check_jobs:
                for field, message in _job_problems(request, checked, rules):
                    where = f"line {line.number}" if field in ("prompt", "negative_prompt") \
                        else _cell(axes, coords)
                    message = f"{where}: {message}"
                    if message not in seen:
                        seen.add(message)
                        job_problems.append(message)
            jobs.append(BatchJob(uuid.uuid4().hex, len(jobs), line, coords, request))
    problems.extend(job_problems)
    if problems:
        raise BatchError(_shortened(problems))
    return BatchPlan(tuple(axes), tuple(jobs))


def _shortened(problems: list[str]) -> list[str]:
    if len(problems) <= MAX_LISTED_PROBLEMS:
        return problems
    more = len(problems) - MAX_LISTED_PROBLEMS + 1
    # The last problem stays: the plan's size, when it is one, says the most.
    return problems[:MAX_LISTED_PROBLEMS - 2] + [f"… and {more:,} more problem(s).", problems[-1]]


def _job_problems(request: GenerationRequest, checked: set, rules: dict) -> list[tuple[str, str]]:
    """(field, message) for what `generate` would refuse in this request: its values, and its
    prompt by the model's rules (length, words, syntax), each distinct prompt judged once;
    and a request too large to be kept in the queue."""
    from engine.jobs.queue import size_problem
    from engine.prompt_rules import prompt_problems, rules_for

    key = (request.prompt, request.negative_prompt, request.model)
    if key in checked:
        found = [(p.field, p.message) for p in request.validate()
                 if p.field not in ("prompt", "negative_prompt")]
    else:
        checked.add(key)
        if request.model not in rules:
            rules[request.model] = rules_for(request.model)
        found = [(p.field, p.message) for p in prompt_problems(request, rules[request.model])]
    if not any(field == "prompt" for field, _ in found):
        too_large = size_problem(request)
        if too_large:
            found.append(("prompt", too_large))
    return found


def _grid_problems(axes: list[Axis], base: GenerationRequest) -> list[str]:
    if not 1 <= len(axes) <= 2:
        return []
    width, height = base.width, base.height
    for axis in axes:
        if axis.name == "size":
            width = max([width] + [int(w) for w, _ in axis.values])
            height = max([height] + [int(h) for _, h in axis.values])
    cells = math.prod(len(a.values) for a in axes)
    pixels = cells * int(width) * int(height)
    if pixels <= MAX_GRID_PIXELS:
        return []
    return [f"The grid would be {cells:,} images of {width}x{height}, {pixels / 1e6:,.0f} million "
            f"pixels; a grid holds at most {MAX_GRID_PIXELS // 1_000_000} million. Give fewer "
            "grid values or a smaller size."]


def _cell(axes: list[Axis], coords: tuple[int, ...]) -> str:
    return ", ".join(f"--grid {a.name}={a.texts[i]}" for a, i in zip(axes, coords)) or "the options"
