"""Measures what a person feels: how soon the window appears, and whether it stutters.

    python -m gui.probe                      both measurements, a table on stdout
    python -m gui.probe --json out.json      the same numbers as JSON too

Window: launches `python main.py` as a person would and times launch to the
first painted frame (the app prints a marker when SD_DESK_REPORT_SHOWN is set).

Stall: in this process, builds the real window with the real worker and engine,
and runs a 10 ms QTimer on the GUI thread while the engine loads and while a
generation runs. A timer that fires late means the event loop was blocked for
that long (repaints, clicks and typing wait just as long). Reports p50, p99 and
max lateness. Uses the app's default model (engine.default_model), else Stable
Diffusion 1.4 with random weights (same computation, meaningless pictures).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
INTERVAL_MS = 10


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(q / 100 * (len(ordered) - 1)))))
    return ordered[index]


def summarize(samples: list[float]) -> dict:
    return {"ticks": len(samples), "p50_ms": round(percentile(samples, 50), 2),
            "p99_ms": round(percentile(samples, 99), 2),
            "max_ms": round(max(samples) if samples else 0.0, 2)}


def seconds_to_window(command: list[str], env: dict, timeout_s: float = 60) -> float:
    """Launch `command` (the app from source, or a frozen build) and time it to the
    first painted frame, which the app reports when SD_DESK_REPORT_SHOWN is set."""
    started = time.time()
    child = subprocess.Popen(command, cwd=REPO, env=dict(env, SD_DESK_REPORT_SHOWN="1"),
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    shown = None
    try:
        deadline = started + timeout_s
        while time.time() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            if line.startswith("SD_DESK_SHOWN"):
                shown = float(line.split()[1])
                break
    finally:
        child.terminate()
        try:
            child.wait(20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    if shown is None:
        raise RuntimeError("the window never reported itself shown")
    return shown - started


def measure_window_appear(runs: int = 3, timeout_s: float = 60) -> dict:
    times = []
    for _ in range(runs):
        env = dict(os.environ,
                   SD_DESK_HISTORY_DIR=tempfile.mkdtemp(prefix="sd-desk-probe-history-"))
        times.append(seconds_to_window([sys.executable, str(REPO / "main.py")], env, timeout_s))
    return {"runs_s": [round(t, 3) for t in times], "median_s": round(statistics.median(times), 3)}


def measure_stall(steps: int, size: int) -> dict:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    scratch = Path(tempfile.mkdtemp(prefix="sd-desk-probe-"))
    os.environ["SD_DESK_HISTORY_DIR"] = str(scratch / "history")
    from PySide6.QtCore import QEventLoop, QObject, QSettings, Qt, QTimer, Slot

    from engine.request import GenerationRequest
    from gui.app import make_application, make_window
    from gui.engine_status import EngineStatus
    from gui.form import GenerationForm
    from gui.generation_panel import GenerationPanel
    from gui.selftest import _force_usable, choose_model
    from gui.services import default_services, make_engine
    from gui.worker import GenerationWorker

    class Meter(QObject):
        def __init__(self) -> None:
            super().__init__()
            self.timer = QTimer(self)
            self.timer.setTimerType(Qt.TimerType.PreciseTimer)
            self.timer.timeout.connect(self.tick)
            self.samples: list[float] = []
            self.last = 0.0

        def start(self) -> None:
            self.samples = []
            self.last = time.perf_counter()
            self.timer.start(INTERVAL_MS)

        @Slot()
        def tick(self) -> None:
            now = time.perf_counter()
            self.samples.append(max(0.0, (now - self.last) * 1000 - INTERVAL_MS))
            self.last = now

        def stop(self) -> list[float]:
            self.timer.stop()
            return self.samples

    class Waiter(QObject):
        def __init__(self) -> None:
            super().__init__()
            self.loop = QEventLoop()
            self.result = None

        @Slot(object, list)
        def on_event(self, event, images) -> None:
            from engine.jobs import EngineFailed, EngineReady, Failed, Finished
            if isinstance(event, EngineReady):
                self.result = event.device
            elif isinstance(event, Finished):
                self.result = event
            elif isinstance(event, (Failed, EngineFailed)):
                self.result = RuntimeError(f"{event.title}: {event.message}")
            else:
                return
            self.loop.quit()

    app = make_application([sys.argv[0]])  # noqa: F841 - held so the application lives
    services = default_services()
    model_id, random_weights = choose_model(services.models())
    if random_weights:
        services.engine_factory = lambda: make_engine(random_weights=True)
        services.models = _force_usable(services.models, model_id)
    meter, waiter = Meter(), Waiter()
    meter.start()  # from before the window exists: engine loading starts with it
    window = make_window(services, QSettings(str(scratch / "settings.ini"), QSettings.Format.IniFormat))
    worker: GenerationWorker = window.worker
    form: GenerationForm = window.form
    generation: GenerationPanel = window.generation
    engine_status: EngineStatus = window.engine_status
    worker.event.connect(waiter.on_event)
    window.show()
    waiter.loop.exec()
    loading = meter.stop()

    request = GenerationRequest(prompt="a small red circle on the left, blue background", seed=3,
                                steps=steps, width=size, height=size, model=model_id)
    form.set_request(request)
    form.seed.lock.setChecked(True)
    # The first run also builds the model; the second shows the steady state.
    results = {}
    for label in ("first_generation", "second_generation"):
        waiter.result = None
        meter.start()
        started = time.perf_counter()
        generation.generate()
        waiter.loop.exec()
        samples = meter.stop()
        if isinstance(waiter.result, Exception):
            raise waiter.result
        results[label] = {**summarize(samples), "seconds": round(time.perf_counter() - started, 2)}
    window.close()
    return {"model": model_id + (" (random weights)" if random_weights else ""),
            "device": engine_status.device, "steps": steps, "size": size,
            "engine_loading": summarize(loading), **results}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gui.probe", description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--runs", type=int, default=3, help="window launches to time")
    parser.add_argument("--skip-window", action="store_true")
    parser.add_argument("--skip-stall", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    report = {}
    if not args.skip_window:
        report["window_appear"] = measure_window_appear(args.runs)
        print(f"window appears after launch: median {report['window_appear']['median_s']} s "
              f"(runs: {report['window_appear']['runs_s']})", flush=True)
    if not args.skip_stall:
        report["stall"] = stall = measure_stall(args.steps, args.size)
        print(f"GUI event-loop lateness ({INTERVAL_MS} ms timer), model {stall['model']} on "
              f"{stall['device']}, {stall['steps']} steps at {stall['size']}px:")
        for phase in ("engine_loading", "first_generation", "second_generation"):
            s = stall[phase]
            extra = f", {s['seconds']} s" if "seconds" in s else ""
            print(f"  {phase:18s} p50 {s['p50_ms']:7.2f} ms  p99 {s['p99_ms']:7.2f} ms  "
                  f"max {s['max_ms']:8.2f} ms  ({s['ticks']} ticks{extra})")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
