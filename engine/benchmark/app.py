"""`benchmark --app`: the figures a person feels, gathered from the tools that own them.

The window and stall measurements are the GUI's probe (gui/probe.py), run as its
own process: engine/ never imports Qt or gui/, and the probe needs a QApplication
of its own anyway. The 10,000-image history figure is the history's own bench
(engine/history/bench.py). This only runs them in turn and puts their numbers in
one report.
"""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run(steps: int = 10, size: int = 128, window_runs: int = 3, history_entries: int = 10_000,
        history_repeat: int = 5) -> dict:
    report: dict = {"started": time.strftime("%Y-%m-%d %H:%M:%S")}
    probe = _probe(steps, size, window_runs)
    report["window_appear"] = probe["window_appear"]
    # The probe's first generation builds the model (cold), the second reuses it (warm).
    stall = probe["stall"]
    report["stall"] = stall
    report["first_image"] = {"cold_s": stall["first_generation"]["seconds"],
                             "warm_s": stall["second_generation"]["seconds"],
                             "model": stall["model"], "steps": steps, "size": size}
    report["history"] = _history(history_entries, history_repeat)
    return report


def _probe(steps: int, size: int, window_runs: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="sd-desk-probe-") as folder:
        out = Path(folder) / "probe.json"
        subprocess.run([sys.executable, "-m", "gui.probe", "--steps", str(steps), "--size",
                        str(size), "--runs", str(window_runs), "--json", str(out)],
                       cwd=REPO, check=True, stdout=sys.stderr)
        return json.loads(out.read_text())


def _history(entries: int, repeat: int) -> dict:
    from engine.history import bench

    with tempfile.TemporaryDirectory(prefix="sd-desk-bench-") as folder:
        timings = bench.run(Path(folder), entries, repeat)
    return {"entries": entries, "repeat": repeat,
            **{f"{name.replace(' ', '_').replace('+', 'and')}_median_ms":
               round(statistics.median(values) * 1000, 1) for name, values in timings.items()}}


def render(report: dict) -> str:
    w, f, s, h = report["window_appear"], report["first_image"], report["stall"], report["history"]
    lines = [f"window appears after launch      median {w['median_s']:.2f} s  (runs {w['runs_s']})",
             f"time to first image, cold        {f['cold_s']:.1f} s  ({f['model']}, {f['steps']} "
             f"steps at {f['size']}px, model build included)",
             f"time to first image, warm        {f['warm_s']:.1f} s",
             "GUI event-loop lateness (10 ms timer):"]
    for phase in ("engine_loading", "first_generation", "second_generation"):
        p = s[phase]
        lines.append(f"  {phase:18s} p50 {p['p50_ms']:7.2f} ms  p99 {p['p99_ms']:7.2f} ms  "
                     f"max {p['max_ms']:8.2f} ms")
    lines.append(f"history of {h['entries']:,} images: open + first page median "
                 f"{h.get('open_and_first_page_median_ms')} ms, search median "
                 f"{h.get('search_median_ms')} ms")
    return "\n".join(lines)
