"""Runs the benchmark: per configuration a cold run, then timed warm runs of our
loop (both guidance modes) and of KerasCV's own text_to_image, interleaved.

Interleaving matters on a shared or throttling machine: a slow patch then lands
on every side instead of on whichever ran during it. Medians, not means, for the
same reason.
"""
from __future__ import annotations

import dataclasses
import importlib
import statistics
import time
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from engine.benchmark import kerascv, system
from engine.benchmark.settings import CONFIGS, BenchmarkSettings
from engine.events import CancelToken, Progress
from engine.errors import EngineError
from engine.request import GenerationRequest
from engine.versions import versions


class BenchmarkCancelled(Exception):
    pass


@dataclass(frozen=True)
class BenchmarkProgress:
    message: str
    done: int  # generations finished
    total: int  # generations in the whole run
    step: Optional[Progress] = None  # the running generation's own progress


ProgressFn = Callable[[BenchmarkProgress], None]
# How our loop can run guidance's two halves: the value of batched_guidance.
MODES: dict[str, bool] = {
    "one call of 2B": True,
    "two calls of B": False,
}

OURS, KERASCV = "ours", "kerascv"


def generations_per_config(settings: BenchmarkSettings) -> int:
    """Cold run, KerasCV's first run, then per round KerasCV and each mode of ours
    (comparing runs only on Stable Diffusion, which has all three modes)."""
    sides = 1 + len(MODES) if settings.compare else 1
    return 1 + (1 if settings.compare else 0) + settings.runs * sides


def run(settings: BenchmarkSettings, engine=None, on_progress: Optional[ProgressFn] = None,
        cancel: Optional[CancelToken] = None,
        on_config: Optional[Callable[[dict], None]] = None) -> dict:
    """The whole report as a JSON-ready dict. `engine` defaults to a new Engine
    (random weights when the settings say so). `on_config` gets the report so far
    after each configuration, so a run that dies later (out of memory while
    building the next one) still leaves its finished configurations behind."""
    problems = settings.problems()
    if problems:
        raise ValueError("\n".join(problems))
    importlib.import_module("engine.demo")  # registers the built-in demo model; no TensorFlow
    from engine.models import registry
    try:
        family = registry.get_model(settings.model).family
    except KeyError:
        family = None  # the engine will say what is wrong with the model
    if settings.compare and family == "demo":
        settings = dataclasses.replace(settings, compare=False)  # KerasCV has no demo model
    if engine is None:
        from engine.pipeline import Engine
        engine = Engine(random_weights=settings.random_weights)
    report = {"settings": settings.to_dict(), "machine": system.machine(engine),
              "versions": versions(),
              "random_weights": bool(getattr(engine, "random_weights", False)),
              "started": time.strftime("%Y-%m-%d %H:%M:%S"), "configs": []}
    counter = _Counter(len(settings.configs) * generations_per_config(settings), on_progress)
    for name in settings.configs:
        report["configs"].append(_run_config(engine, settings, name, counter, cancel))
        if on_config is not None:
            on_config(report)
    report["machine"]["load_average_after"] = system.load_average()
    return report


class _Counter:
    def __init__(self, total: int, on_progress: Optional[ProgressFn]):
        self.done, self.total = 0, total
        self.report = on_progress or (lambda p: None)
        self.message = ""

    def start(self, message: str) -> None:
        self.message = message
        self.report(BenchmarkProgress(message, self.done, self.total))

    def step(self, progress: Progress) -> None:
        self.report(BenchmarkProgress(self.message, self.done, self.total, progress))

    def finish(self) -> None:
        self.done += 1
        self.report(BenchmarkProgress(self.message, self.done, self.total))


def _request(settings: BenchmarkSettings, name: str) -> GenerationRequest:
    mixed, xla = CONFIGS[name]
    # DDIM, KerasCV's only sampler: our images are compared with its own.
    return GenerationRequest(prompt=settings.model_prompt(), seed=settings.seed, steps=settings.steps,
                             sampler="ddim",
                             width=settings.width, height=settings.height, batch=settings.batch,
                             model=settings.model, mixed_precision=mixed, xla=xla,
                             preview=settings.preview)


def default_mode(backend) -> str:
    from engine.sampler import default_batched_guidance
    return "one call of 2B" if default_batched_guidance(backend) else "two calls of B"


def _run_config(engine, settings: BenchmarkSettings, name: str, counter: _Counter,
                cancel: Optional[CancelToken]) -> dict:
    request = _request(settings, name)

    def ours(mode: Optional[str], label: str) -> tuple[dict, Optional[np.ndarray]]:
        counter.start(f"{name}: {label}")
        steps: list[float] = []

        def on_step(progress: Progress) -> None:
            if progress.step_seconds is not None:
                steps.append(progress.step_seconds)
            counter.step(progress)

        # None: the engine's own choice, which is also all an engine without modes takes.
        options = {} if mode is None else {"batched_guidance": MODES[mode]}
        started = time.perf_counter()
        result = engine.generate(request, on_step, cancel, **options)
        seconds = time.perf_counter() - started
        if result.cancelled:
            raise BenchmarkCancelled()
        counter.finish()
        timings = dict(result.timings, total=seconds, median_step=_median(steps))
        if "model_calls" in timings and "denoising" in timings:
            # The step loop's own cost: everything in a step but the network and the preview.
            timings["outside_model_calls"] = (timings["denoising"] - timings["model_calls"]
                                              - timings.get("preview", 0.0))
        pixels = np.stack([image.pixels for image in result.images]) if result.images else None
        return timings, pixels

    def theirs(label: str) -> tuple[dict, np.ndarray]:
        _check(cancel)
        counter.start(f"{name}: {label}")
        images, timings = kerascv.timed_generate(wired, request)
        counter.finish()
        return timings, images

    if settings.fresh_builds:
        engine.release()
    entry = {"config": name, "backend": engine.backend_name(),
             "mixed_precision": request.mixed_precision, "xla": request.xla,
             "cold_includes_build": settings.fresh_builds}
    with system.PeakMemory() as memory:
        entry["cold_timings"], _ = ours(None, "first run (build, compile, generate)")
        entry["cold_s"] = entry["cold_timings"]["total"]
        backend = engine.loaded_backend()
        default = default_mode(backend)
        modes = list(MODES) if settings.compare else [default]
        sides: dict[str, list] = {side: [] for side in [KERASCV] + modes}
        images: dict[str, np.ndarray] = {}
        if settings.compare:
            wired = kerascv.wire(_backend_of(engine))
            entry["kerascv_first_s"] = theirs("KerasCV first run")[0]["total"]
        for round_ in range(settings.runs):
            jobs = [(mode, lambda mode=mode: ours(None if mode == default else mode,
                                                  f"ours, {mode}, run {round_ + 1}"))
                    for mode in [default] + [m for m in modes if m != default]]
            if settings.compare:
                jobs.insert(1, (KERASCV, lambda: theirs(f"KerasCV, run {round_ + 1}")))
            shift = round_ % len(jobs)
            for side, job in jobs[shift:] + jobs[:shift]:
                timings, pixels = job()
                sides[side].append(timings)
                images[side] = pixels
    entry["peak_rss_bytes"] = memory.peak_rss
    entry["peak_gpu_bytes"] = memory.peak_gpu
    entry["default_mode"] = default
    entry["modes"] = {mode: _summary(sides[mode], settings.steps, mode) for mode in modes}
    if settings.compare:
        entry[KERASCV] = _summary(sides[KERASCV], settings.steps, "two calls of B")
        for mode, summary in entry["modes"].items():
            summary["ratio_to_kerascv"] = summary["median_s"] / entry[KERASCV]["median_s"]
            summary["step_ratio_to_kerascv"] = summary["s_per_step"] / entry[KERASCV]["s_per_step"]
            summary["max_pixel_difference_to_kerascv"] = _max_difference(
                images.get(mode), images.get(KERASCV))
    entry[OURS] = entry["modes"][default]
    return entry


def _summary(runs: list[dict], steps: int, mode: str) -> dict:
    keys = sorted({k for run in runs for k in run})
    medians = {k: _median([run[k] for run in runs if run.get(k) is not None]) for k in keys}
    denoising = medians.get("denoising")
    summary = {"mode": mode, "runs_s": [round(run["total"], 4) for run in runs],
               "median_s": medians["total"],
               "s_per_step": None if denoising is None else denoising / steps,
               "timings": medians}
    if "outside_model_calls" in medians:
        summary["overhead_per_step_s"] = medians["outside_model_calls"] / steps
    if "preview" in medians:
        summary["preview_per_step_s"] = medians["preview"] / steps
    return summary


def _backend_of(engine):
    backend = engine.loaded_backend()
    if backend is None or not hasattr(backend, "components"):
        raise EngineError("KerasCV can only be compared on a Stable Diffusion model.")
    return backend


def _median(values: list[float]) -> Optional[float]:
    return statistics.median(values) if values else None


def _max_difference(a: Optional[np.ndarray], b: Optional[np.ndarray]) -> Optional[int]:
    if a is None or b is None or a.shape != b.shape:
        return None
    return int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())


def _check(cancel: Optional[CancelToken]) -> None:
    if cancel is not None and cancel.cancelled:
        raise BenchmarkCancelled()
