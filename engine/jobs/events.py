"""The one stream a job queue and its runner announce themselves through.

Plain frozen data, so the CLI prints it, the Qt adapter forwards it as one
signal, and tests compare it. Each event names its job, as krita-ai-diffusion's
messages do; the engine events (loading, ready, failed) name none.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Union

import numpy as np

from engine.durations import format_duration
from engine.request import GenerationRequest

_PHASE_WORDS = {"loading": "Loading model", "encoding": "Encoding prompt",
                "decoding": "Decoding image", "saving": "Saving"}


@dataclass(frozen=True)
class Queued:
    job_id: int
    request: GenerationRequest
    origin: str = ""  # Job.origin: "api" for a job an HTTP client queued


@dataclass(frozen=True)
class QueueChanged:
    """Something about the waiting jobs changed (removed, moved, paused, resumed, retried)."""


@dataclass(frozen=True)
class Started:
    job_id: int
    request: GenerationRequest


@dataclass(frozen=True)
class JobProgress:
    job_id: int
    phase: str  # loading, encoding, denoising, decoding, saving
    step: int
    total: int
    eta_seconds: Optional[float] = None  # None until it can be told (a cold first step cannot)
    preview: Optional[np.ndarray] = field(default=None, compare=False)  # uint8 (B, h, w, 3)

    def describe(self) -> str:
        if self.phase == "denoising":
            text = f"Step {self.step} of {self.total}"
        else:
            text = _PHASE_WORDS.get(self.phase, self.phase.capitalize())
        if self.eta_seconds is not None:
            text += f" \u2014 about {format_duration(self.eta_seconds)} left"
        return text


@dataclass(frozen=True)
class Finished:
    job_id: int
    request: GenerationRequest
    entry_ids: tuple  # history ids of the saved images, in the batch's order
    seconds: float  # start to saved, model load included
    result: Any = field(default=None, compare=False)  # the engine's GenerationResult
    saved: tuple = field(default=(), compare=False)  # what the history returned (records)
    unsaved: str = ""  # why the history could not keep these images, when it could not


@dataclass(frozen=True)
class Failed:
    job_id: int
    title: str
    message: str  # written for the person, never a traceback


@dataclass(frozen=True)
class Cancelled:
    job_id: int
    interrupted: bool = False  # stopped by closing the app: the job stays queued, to run again


@dataclass(frozen=True)
class JobDamaged:
    """A queued job whose stored request cannot be read: it stays listed as damaged (state
    DAMAGED) for the person to remove, and never runs. Not an ending: it never started."""
    job_id: int
    message: str


@dataclass(frozen=True)
class EngineLoading:
    pass


@dataclass(frozen=True)
class EngineReady:
    device: str
    backend: str


@dataclass(frozen=True)
class EngineFailed:
    title: str
    message: str


JobEvent = Union[Queued, QueueChanged, Started, JobProgress, Finished, Failed, Cancelled,
                 JobDamaged, EngineLoading, EngineReady, EngineFailed]
# The events that end a job: exactly one per job that started.
ENDINGS = (Finished, Failed, Cancelled)
