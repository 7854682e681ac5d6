"""The plain data the engine hands back: progress, results and the cancel flag
(the errors a person sees are in engine/errors.py).

Callers (CLI, Qt worker, benchmark) receive these through ordinary callbacks;
nothing here knows about threads or Qt.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from engine.request import GenerationRequest

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
    # A1111's "Lora hashes" and "TI hashes": short hash by name, of the files the prompt used.
    network_hashes: dict[str, dict[str, str]] = field(default_factory=dict)


class CancelToken:
    """A flag the UI sets from any thread; the step loop reads it between steps."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()
