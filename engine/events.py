"""The plain data the engine hands back: progress, results and the errors a person sees.

Callers (CLI, Qt worker, benchmark) receive these through ordinary callbacks;
nothing here knows about threads or Qt.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from engine.request import GenerationRequest, Problem

PHASES = ("loading", "encoding", "denoising", "decoding")


@dataclass(frozen=True)
class Progress:
    phase: str  # one of PHASES
    step: int  # denoising steps finished (0 outside "denoising")
    total: int  # denoising steps in all
    preview: Optional[np.ndarray] = None  # uint8 (B, h, w, 3), small, when asked for
    step_seconds: Optional[float] = None  # wall time of the step just finished


ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True)
class GeneratedImage:
    pixels: np.ndarray  # uint8 (H, W, 3)
    seed: int


@dataclass
class GenerationResult:
    request: GenerationRequest
    images: list[GeneratedImage]
    model_label: str  # what to record: "sd-v1.4", "sd-v1.4 (custom, unverified)", ...
    device: str
    cancelled: bool = False
    timings: dict[str, float] = field(default_factory=dict)  # phase -> seconds
    backend: str = ""  # the Keras backend it ran on: tensorflow, jax or torch
    model_hash: str = ""  # A1111's short hash of a checkpoint file ("" for KerasCV's own models)


class CancelToken:
    """A flag the UI sets from any thread; the step loop reads it between steps."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


class EngineError(Exception):
    """An error whose message is written for the person using the app."""


class InvalidRequest(EngineError):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(p.message for p in problems))


class MissingWeights(EngineError):
    def __init__(self, model_id: str, missing: list[tuple[str, list[str]]]):
        """`missing` holds (file name, folders it was looked for in)."""
        self.model_id = model_id
        self.missing = missing
        lines = [f"Model {model_id} is missing {len(missing)} weight file(s):"]
        for name, places in missing:
            lines.append(f"  {name} (looked in: {', '.join(places)})")
        lines.append(f"Download them with `python main.py models download {model_id}`, "
                     "or point --weights-dir at a folder that holds them.")
        super().__init__("\n".join(lines))


class OutOfMemory(EngineError):
    pass
