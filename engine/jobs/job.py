"""A job: one request on its way to the history, and the state it is in."""
from __future__ import annotations

import enum
from dataclasses import dataclass

from engine.request import GenerationRequest


class JobState(str, enum.Enum):
    PENDING = "pending"  # waiting its turn
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"  # was running when the app stopped (crash, kill, close)
    DAMAGED = "damaged"  # its stored request cannot be read (a damaged file): never runs

    @property
    def waiting(self) -> bool:
        """Still in the queue, for the person to run, remove or reorder."""
        return self in (JobState.PENDING, JobState.INTERRUPTED)


@dataclass(frozen=True)
class Job:
    id: int
    request: GenerationRequest
    state: JobState = JobState.PENDING
    # The history's name for this job's images (engine.history.store.add_result), given when
    # it first starts; a job that already has one when taken ran before (a kill, a crash).
    uid: str = ""
    ran_before: bool = False
    # Who queued it, where that is not the person at the window: "api" for the HTTP API
    # (engine/api), so the window can mark it. "" for the window's own and the CLI's.
    origin: str = ""

    def describe(self) -> str:
        """One line for a queue list: the prompt's start and the settings that cost time."""
        if self.state is JobState.DAMAGED:
            return f"#{self.id}  damaged: its stored settings cannot be read; remove it"
        r = self.request
        prompt = " ".join(r.prompt.split())
        prompt = prompt if len(prompt) <= 48 else prompt[:47] + "\u2026"
        # The mark first: the window elides a long line's end.
        mark = f"[{ORIGIN_MARKS.get(self.origin, self.origin)}]  " if self.origin else ""
        text = (f"#{self.id}  {mark}{prompt}  \u2014  {r.width}\u00d7{r.height}, {r.steps} steps, "
                f"batch {r.batch}, seed {r.seed}")
        return text + ("  (interrupted)" if self.state is JobState.INTERRUPTED else "")


API = "api"
ORIGIN_MARKS = {API: "API"}
