"""Where a batch's results go: each image into the output folder and the history, once."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Optional

import numpy as np

from engine.batch.grid import plan_layout, render_grid, save_grid
from engine.batch.plan import BatchJob, BatchPlan
from engine.events import GenerationResult


@dataclass
class JobOutcome:
    paths: list[Path] = field(default_factory=list)
    model_label: str = ""
    error: Optional[str] = None


class BatchOutput:
    """Accepts each job's result once, whichever worker sends it and however often.

    `history` is a HistoryStore, or None to write the folder only. A job's files
    are in the folder before its images are committed to the history.
    """

    def __init__(self, plan: BatchPlan, folder: Path, history=None):
        self.plan = plan
        self.folder = Path(folder)
        self.history = history
        self.stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        self.outcomes: dict[str, JobOutcome] = {}
        self.duplicates = 0  # results that arrived for a job already saved

    @property
    def finished(self) -> int:
        return len(self.outcomes)

    def failures(self) -> list[tuple[BatchJob, str]]:
        return [(job, self.outcomes[job.id].error) for job in self.plan.jobs
                if job.id in self.outcomes and self.outcomes[job.id].error]

    def accept(self, job: BatchJob, result: GenerationResult) -> list[Path]:
        """Saves the job's images; [] when this job was saved already (a rerun's copy)."""
        from engine.pngmeta import save_png

        if job.id in self.outcomes:
            self.duplicates += 1
            return []
        paths = []
        for image in result.images:
            path = self._free_path(f"{self.stamp}-{job.index + 1:04d}-{image.seed}")
            paths.append(save_png(path, image.pixels, result.request, image.seed,
                                  result.model_label, model_hash=result.model_hash,
                                  network_hashes=result.network_hashes))
        if self.history is not None:
            self.history.add_result(result)
        self.record(job, paths, result.model_label)
        return paths

    def record(self, job: BatchJob, paths: list[Path], model_label: str) -> bool:
        """A job whose images are saved already (the window's runner keeps them in the
        history): the grid uses those files. False when this job was recorded already."""
        if job.id in self.outcomes:
            self.duplicates += 1
            return False
        self.outcomes[job.id] = JobOutcome(list(paths), model_label)
        return True

    def fail(self, job: BatchJob, message: str) -> None:
        if job.id not in self.outcomes:
            self.outcomes[job.id] = JobOutcome(error=message)

    def _free_path(self, stem: str) -> Path:
        path, n = self.folder / f"{stem}.png", 1
        while path.exists():
            n += 1
            path = self.folder / f"{stem}-{n}.png"
        return path

    # ------------------------------------------------------------ grids

    def save_grids(self) -> list[Path]:
        """One `grid-*.png` per prompt line when the batch has one or two axes."""
        paths = []
        for number, jobs in enumerate(self.plan.grids(), start=1):
            path = self._save_grid(jobs, number)
            if path is not None:
                paths.append(path)
        return paths

    def _save_grid(self, jobs: list[BatchJob], number: int) -> Optional[Path]:
        from PIL import Image

        made = [j for j in jobs if self.outcomes.get(j.id) and self.outcomes[j.id].paths]
        if not made:
            return None
        axes = self.plan.axes
        cell_w = max(j.request.width for j in jobs)
        cell_h = max(j.request.height for j in jobs)
        columns = [axes[0].label(i) for i in range(len(axes[0].values))]
        rows = [axes[1].label(i) for i in range(len(axes[1].values))] if len(axes) > 1 else []
        layout = plan_layout(cell_w, cell_h, columns, rows)
        cells: list[Optional[np.ndarray]] = []
        recipe_cells = []
        for job in jobs:  # row by row: plan_batch's order
            outcome = self.outcomes.get(job.id)
            if outcome is None or not outcome.paths:
                cells.append(None)
                continue
            with Image.open(outcome.paths[0]) as image:
                cells.append(np.asarray(image.convert("RGB")))
            row, column = (job.coords[1] if len(job.coords) > 1 else 0), job.coords[0]
            recipe_cells.append({"row": row, "column": column, "file": outcome.paths[0].name,
                                 "seed": job.request.seed, "prompt": job.request.prompt})
        first = made[0]
        recipe = {"prompt_line": first.line.number, "prompt": first.line.text,
                  "columns": axes[0].describe(),
                  "rows": axes[1].describe() if len(axes) > 1 else None,
                  "cell_size": [cell_w, cell_h], "cells": recipe_cells}
        path = self._free_path(f"grid-{self.stamp}-{number:03d}")
        return save_grid(path, render_grid(cells, layout), first.request, first.request.seed,
                         self.outcomes[first.id].model_label, recipe)
