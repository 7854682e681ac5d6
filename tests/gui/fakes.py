"""Test doubles for the window: an engine that yields N steps, and an in-memory history.

They refuse to exist outside a pytest run, so a packaging or wiring mistake can
never ship a window that makes fake images.
"""
from __future__ import annotations

import dataclasses
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterable, Optional

import numpy as np

from engine import pngmeta
from engine.events import CancelToken, GeneratedImage, GenerationResult, Progress
from engine.errors import InvalidRequest, MissingWeights, OutOfMemory
from engine.request import GenerationRequest
from gui.history import Entry
from gui.services import ModelInfo, Services, read_recipe


def _only_in_tests() -> None:
    if "pytest" not in sys.modules:
        raise RuntimeError("tests/gui/fakes.py is a test double; the app must never use it.")


class FakeEngine:
    """Yields `request.steps` denoising steps, each with a preview and a fixed measured time.

    `hold_at_step` parks the loop before that step until `proceed` is set or the
    job is cancelled, so a test can act while a generation is provably running.
    `hold_at_decoding` parks it in decoding until `proceed` is set: as in the real step
    loop, a cancel there comes too late to stop it, and the images are made.
    Prompts containing "oom", "missing" or "invalid" raise the matching error.
    """

    STEP_SECONDS = 0.5

    def __init__(self, hold_at_step: Optional[int] = None) -> None:
        _only_in_tests()
        self.hold_at_step = hold_at_step
        self.hold_at_decoding = False
        self.proceed = threading.Event()
        self.holding = threading.Event()  # set while parked at hold_at_step
        self.requests: list[GenerationRequest] = []
        self.threads: set[int] = set()
        self.released_models = False
        # Keras keeps per-thread state this way; it must survive from one job to the next.
        self._local = threading.local()
        self.calls_seen_by_thread_local: list[int] = []
        self.tokenizer_ready = True

    def device_name(self) -> str:
        return "Fake device"

    def backend_name(self) -> str:
        return "jax"

    def count_tokens(self, model_id: str, text: str) -> Optional[int]:
        return len(text.split()) + 2

    def prompt_length(self, model_id: str, text: str) -> Optional[tuple[int, int]]:
        """A1111's count with words for tokens: (used, capacity of 75-token chunks, BREAK
        starting a new one); None until `tokenizer_ready`, as the engine before its vocabulary."""
        if not self.tokenizer_ready:
            return None
        parts = [len(part.split()) for part in text.split("BREAK")]
        return sum(parts), sum(max(1, -(-n // 75)) * 75 for n in parts)

    def release(self) -> None:
        self.released_models = True

    def loaded_backend(self):
        return None  # no model a benchmark could compare with KerasCV

    def generate(self, request: GenerationRequest, on_progress=None,
                 cancel: Optional[CancelToken] = None) -> GenerationResult:
        self.threads.add(threading.get_ident())
        self.requests.append(request)
        self._local.calls = getattr(self._local, "calls", 0) + 1
        self.calls_seen_by_thread_local.append(self._local.calls)
        report = on_progress or (lambda p: None)
        cancel = cancel or CancelToken()
        prompt = request.prompt.lower()
        if "oom" in prompt:
            raise OutOfMemory("Out of memory at this size. Try 256\u00d7256 or a batch of 1.")
        if "missing" in prompt:
            raise MissingWeights(request.model, [("kcv_diffusion_model.h5", ["/nowhere"])])
        if "invalid" in prompt:
            from engine.request import Problem
            raise InvalidRequest([Problem("prompt", "The fake engine rejects this prompt.")])
        # A hires fix runs both passes as one job, at its output size (engine/hires/run.py).
        total = request.steps_to_run() if request.hires is not None else request.steps
        report(Progress("loading", 0, total))
        report(Progress("encoding", 0, total))
        for step in range(1, total + 1):
            if step == self.hold_at_step:
                self.holding.set()
                # Polls the flag the way a real step loop would between steps.
                while not (self.proceed.is_set() or cancel.cancelled):
                    self.proceed.wait(0.005)
                self.holding.clear()
            if cancel.cancelled:
                return GenerationResult(request, [], request.model, "Fake device", cancelled=True)
            shade = (step * 40) % 256
            # As the real step loop: a preview only when the request asks for one.
            preview = np.full((request.batch, 8, 8, 3), shade, dtype=np.uint8) \
                if request.preview else None
            report(Progress("denoising", step, total, preview, self.STEP_SECONDS))
        report(Progress("decoding", total, total))
        if self.hold_at_decoding:
            self.holding.set()
            self.proceed.wait(10)
            self.holding.clear()
        images = [GeneratedImage(_picture(*request.output_size(), seed), seed)
                  for seed in request.seeds()]
        return GenerationResult(request, images, request.model, "Fake device", backend="jax",
                                timings={"decoding": 1.0})


def _picture(width: int, height: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    colour = rng.integers(0, 256, size=3, dtype=np.uint8)
    image = np.empty((height, width, 3), dtype=np.uint8)
    image[:] = colour
    return image


class FakeHistory:
    """The HistoryView the gallery reads, kept in memory with real PNG files on disk.

    Shared by the worker and GUI threads (a lock guards it), where the real store
    opens one connection per thread.
    """

    def __init__(self, folder: Path) -> None:
        _only_in_tests()
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._entries: dict[int, Entry] = {}
        self._trash: dict[int, Entry] = {}
        self._next = 1
        self.page_calls: list[tuple[int, int]] = []
        self.add_threads: set[int] = set()

    def add_entry(self, request: GenerationRequest, path: Path, created: Optional[float] = None,
                  model_label: str = "fake", origin: str = "") -> Entry:
        with self._lock:
            entry = Entry(self._next, Path(path), request.replace(batch=1), model_label,
                          created if created is not None else time.time() + self._next * 1e-3,
                          False, pngmeta.format_parameters(request, request.seed, model_label),
                          origin=origin)
            self._entries[entry.id] = entry
            self._next += 1
            return entry

    def add_result(self, result: GenerationResult, origin: str = "") -> list:
        self.add_threads.add(threading.get_ident())
        ids = []
        for image in result.images:
            with self._lock:
                n = self._next
            path = self.folder / f"{n:06d}.png"
            pngmeta.save_png(path, image.pixels, result.request, image.seed, result.model_label,
                             origin=origin)
            entry = self.add_entry(result.request.replace(seed=image.seed), path,
                                   model_label=result.model_label, origin=origin)
            ids.append(entry.id)
        return ids

    def _matching(self, text: str, favorites: bool) -> list[Entry]:
        needle = (text or "").lower()
        rows = [e for e in self._entries.values()
                if (not needle or needle in e.request.prompt.lower())
                and (not favorites or e.favorite)]
        return sorted(rows, key=lambda e: (e.created, e.id), reverse=True)

    def count(self, text: str = "", favorites: bool = False) -> int:
        with self._lock:
            return len(self._matching(text, favorites))

    def page(self, offset: int, limit: int, text: str = "", favorites: bool = False) -> list[Entry]:
        with self._lock:
            self.page_calls.append((offset, limit))
            return self._matching(text, favorites)[offset:offset + limit]

    def get(self, entry_id) -> Optional[Entry]:
        with self._lock:
            return self._entries.get(entry_id)

    def set_favorite(self, entry_id, value: bool) -> None:
        with self._lock:
            e = self._entries[entry_id]
            self._entries[entry_id] = dataclasses.replace(e, favorite=value)

    def delete(self, entry_id) -> None:
        with self._lock:
            self._trash[entry_id] = self._entries.pop(entry_id)

    def undo_delete(self, entry_id) -> None:
        with self._lock:
            self._entries[entry_id] = self._trash.pop(entry_id)

    def export(self, entry_ids, folder: Path) -> list[Path]:
        return export_copies([self.get(i) for i in entry_ids], folder)


def fake_models(demo: bool = True, sd_state: str = "installed") -> list[ModelInfo]:
    models = [ModelInfo("sd-v1.4", "Stable Diffusion 1.4", sd_state, "missing kcv_encoder.h5",
                        4_000_000_000)]
    if demo:
        models.append(ModelInfo("demo", "Demo (built-in)", "installed"))
    return models


def fake_services(engine: FakeEngine, history: Optional[FakeHistory], models=None) -> Services:
    _only_in_tests()
    models = models if models is not None else fake_models()
    from engine.img2img.store import SourceStore
    sources = SourceStore(history.folder / "sources" if history is not None
                          else tempfile.mkdtemp(prefix="sd-desk-test-sources-"))
    return Services(
        sources=sources,
        engine_factory=lambda: engine,
        history_factory=(lambda: history) if history is not None else None,
        models=lambda: list(models),
        read_recipe=read_recipe,
    )


def export_copies(entries: Iterable[Optional[Entry]], folder: Path) -> list[Path]:
    """Plain file copies, for the fake store (the real one exports through HistoryStore.export)."""
    out = []
    folder = Path(folder)
    for entry in entries:
        if entry is None:
            continue
        target = folder / entry.path.name
        n = 1
        while target.exists():
            target = folder / f"{entry.path.stem}-{n}{entry.path.suffix}"
            n += 1
        shutil.copy2(entry.path, target)
        out.append(target)
    return out
