"""The printed table and the JSON file."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from engine.benchmark.runner import KERASCV, OURS
from engine.compute.selection import label


def _s(value, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _mb(value) -> str:
    return "-" if value is None else f"{value / 2**20:,.0f}"


def header(report: dict) -> str:
    s, m, v = report["settings"], report["machine"], report["versions"]
    lines = [
        f"Backend: {label(m.get('backend'))}, device: {m.get('device')}  ({m['processor']}, {m['cpu_cores']} cores, {m['memory_gb']} GB; "
        f"load average {m.get('load_average')})",
        "Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()),
        f"Model: {s['model']}, batch {s['batch']}, {s['steps']} steps, {s['width']}x{s['height']}, "
        f"{s['runs']} timed run(s) per side, preview {'on' if s['preview'] else 'off'}",
    ]
    if report["random_weights"]:
        lines.append("Random weights: timings match real weights; the images are not meaningful.")
    return "\n".join(lines)


def tutorial_table(report: dict) -> str:
    return _grid(*table_rows(report))


def table_rows(report: dict) -> tuple[list[str], list[list[str]]]:
    """KerasCV's tutorial table: cold first run and warm median per configuration,
    ours beside KerasCV's own loop on the same components. (columns, rows)."""
    compare = report["settings"]["compare"]
    cols = ["config", "backend", "cold s", "ours s", "s/step"]
    if compare:
        cols += ["KerasCV s", "s/step", "ratio"]
    cols += ["peak RSS MB", "GPU MB"]
    rows = []
    for c in report["configs"]:
        row = [c["config"], label(c.get("backend")), _s(c["cold_s"], 1), _s(c[OURS]["median_s"]), _s(c[OURS]["s_per_step"], 3)]
        if compare:
            row += [_s(c[KERASCV]["median_s"]), _s(c[KERASCV]["s_per_step"], 3),
                    _s(c[OURS]["ratio_to_kerascv"], 3)]
        row += [_mb(c["peak_rss_bytes"]), _mb(c["peak_gpu_bytes"])]
        rows.append(row)
    return cols, rows


def comparison(report: dict) -> str:
    """Our loop in each guidance mode against KerasCV, and where our time goes."""
    if not report["settings"]["compare"]:
        return ""
    lines = []
    for c in report["configs"]:
        k = c[KERASCV]
        lines.append(f"{c['config']}: KerasCV text_to_image {k['median_s']:.2f} s "
                     f"({k['s_per_step']:.3f} s/step; encoding {k['timings']['encoding']:.2f} s, "
                     f"decoding {k['timings']['decoding']:.2f} s)")
        for mode, o in c["modes"].items():
            default = " [engine default]" if mode == c["default_mode"] else ""
            lines.append(f"  ours, {mode}{default}: {o['median_s']:.2f} s, "
                         f"{o['s_per_step']:.3f} s/step, ratio {o['ratio_to_kerascv']:.3f} "
                         f"(steps only {o['step_ratio_to_kerascv']:.3f}), "
                         f"largest pixel difference to KerasCV "
                         f"{o['max_pixel_difference_to_kerascv']}")
        lines.append("  " + breakdown(c[OURS], report["settings"]["steps"]))
    return "\n".join(lines)


def breakdown(side: dict, steps: int) -> str:
    t = side["timings"]
    parts = [f"encoding {t.get('encoding', 0):.3f} s", f"denoising {t.get('denoising', 0):.2f} s",
             f"decoding {t.get('decoding', 0):.3f} s", f"preview {t.get('preview', 0) * 1000:.1f} ms"]
    if "overhead_per_step_s" in side:
        parts.append(f"outside model calls {side['overhead_per_step_s'] * 1000:.1f} ms/step")
    if t.get("preview") is not None and t.get("denoising"):
        parts.append(f"preview = {100 * t['preview'] / t['denoising']:.2f}% of a step")
    return "where our time goes: " + ", ".join(parts)


def render(report: dict) -> str:
    parts = [header(report), "", tutorial_table(report)]
    notes = ["cold = first run of a configuration" + (
        " (build + compile + generate)" if all(c["cold_includes_build"] for c in report["configs"])
        else " (model already built: compile + generate)"),
        "ours = our loop in the engine's default guidance mode ("
        + ", ".join(sorted({c["default_mode"] for c in report["configs"]})) + ")",
        "ratio = ours / KerasCV, medians of interleaved warm runs on the same weights"]
    parts += ["  " + n for n in notes]
    text = comparison(report)
    if text:
        parts += ["", text]
    return "\n".join(parts)


def _grid(cols: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in [col] + [r[i] for r in rows]) for i, col in enumerate(cols)]
    line = lambda cells: "  ".join(str(c).rjust(w) if i else str(c).ljust(w)
                                   for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([line(cols), line(["-" * w for w in widths])] + [line(r) for r in rows])


def write_json(report: dict, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(handle, "w") as f:
        json.dump(report, f, indent=2, default=_plain)
    os.replace(tmp, path)
    return path


def _plain(value):
    import numpy as np
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
