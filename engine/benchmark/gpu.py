"""Stable Diffusion 1.4 (random weights) on each installed Keras backend, for a GPU machine.

    python -m engine.benchmark.gpu                         512x512, 50 steps, batch 1 and 3
    python -m engine.benchmark.gpu --size 128 --steps 2    a quick check on any machine

Each backend runs in its own process (Keras picks its backend once, at import; and
JAX cannot reset its peak-memory counter), one process per backend and precision.
In each: a cold generation (build, compile, generate), then a timed warm one per
batch size, then the levers. Printed: seconds per step, warm total, images per
second, the cold run (build, compile, first image), peak process memory (RSS, over
the cold and warm runs) and device memory, and the fraction of the FLOP floor, from
the UNet's FLOPs per pass (UNET_TFLOP_512) over the device's peak rate
(PEAK_TFLOPS, by device name, or --peak-tflops).

Levers, as extra rows (batch 1, in the last precision asked for: mixed by default), through the engine's public options:
  - "one call of 2B" and "two calls of B": guidance's halves as one UNet call on
    a batch of 2B, or as two calls of B (Engine.generate's batched_guidance; the
    engine's default picks one of the two per device);
  - "no preview": no per-step preview, whose latent copy to the host is the one
    transfer a step makes besides the model calls.
Not available through the engine's public options, so not measured: latents kept
on the device between steps (the step loop works on numpy arrays), the whole step
in one compiled function, float16 weights under mixed precision (Keras's
mixed_float16 keeps float32 variables).

Needs no TensorFlow: see packaging/gpu-check.sh for a machine with only JAX and PyTorch.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from typing import Optional

RESULT_TAG = "SD_DESK_GPU_RESULT "
# The UNet's work per pass at 512x512, batch 1 (about 0.8 TFLOP); guidance makes two
# passes per step. Scaled by batch and by pixel count (the convolutions' share; the
# attention's quadratic part is ignored, so small sizes overstate the floor a little).
UNET_TFLOP_512 = 0.8
PASSES_PER_STEP = 2

# Peak dense tensor rate in TFLOP/s by device-name fragment: (16-bit, float32 as the
# backend runs it). float32 counts TF32 tensor cores where the card has them, which
# JAX and cuDNN convolutions use by default; that flatters nothing. First match wins.
PEAK_TFLOPS: list[tuple[str, float, float]] = [
    ("H200", 989.0, 494.0), ("H100 PCIe", 756.0, 378.0), ("H100", 989.0, 494.0),
    ("A100", 312.0, 156.0), ("L40S", 362.0, 183.0), ("L4", 121.0, 60.0),
    ("A10", 125.0, 62.5), ("RTX 4090", 165.0, 82.6), ("RTX 3090", 71.0, 35.6),
    ("T4", 65.0, 8.1), ("V100", 125.0, 15.7),
]

# Which backends compile the model call, per the engine's xla option. PyTorch runs
# eagerly (Keras's guide advises jit_compile=False for SD there).
XLA = {"tensorflow": True, "jax": True, "torch": False}
PRECISIONS = {"float32": False, "mixed": True}
# Lever rows: request changes and Engine.generate options, each against the default row.
LEVERS = {
    "one call of 2B": {"request": {}, "generate": {"batched_guidance": True}},
    "two calls of B": {"request": {}, "generate": {"batched_guidance": False}},
    "no preview": {"request": {"preview": False}, "generate": {}},
}


def peak_tflops(device: str, mixed: bool, override: Optional[float] = None) -> Optional[float]:
    if override:
        return override
    for fragment, half, single in PEAK_TFLOPS:
        if fragment.lower() in device.lower():
            return half if mixed else single
    return None


def floor_fraction(s_per_step: Optional[float], batch: int, size: int,
                   peak: Optional[float]) -> Optional[float]:
    """The step's FLOP floor at the peak rate, over the measured step time (1.0 = at peak)."""
    if not s_per_step or not peak:
        return None
    tflop = UNET_TFLOP_512 * PASSES_PER_STEP * batch * (size * size) / 512 ** 2
    return (tflop / peak) / s_per_step


# ------------------------------------------------------------------ one backend, in a child

def _measure(engine, request, **options) -> dict:
    from engine import compute
    started = time.perf_counter()
    result = engine.generate(request, **options)
    total = time.perf_counter() - started
    stats = compute.current().memory_stats()
    return {"total_s": total, "s_per_step": result.timings["denoising"] / request.steps,
            "images_per_s": request.batch / total, "device": result.device,
            "peak_gpu_bytes": None if stats is None else stats["peak"]}


def run_child(backend: str, precision: str, size: int, steps: int, batches: list[int],
              levers: bool) -> list[dict]:
    from engine import compute
    from engine.benchmark.system import PeakMemory
    from engine.pipeline import Engine
    from engine.request import GenerationRequest

    if compute.backend_name() != backend:
        raise SystemExit(f"KERAS_BACKEND gave {compute.backend_name()}, not {backend}")
    module = compute.current()
    engine = Engine(random_weights=True)
    mixed = PRECISIONS[precision]
    base = GenerationRequest("a lighthouse at dusk, oil painting", seed=1, steps=steps,
                             width=size, height=size, model="sd-v1.4", mixed_precision=mixed,
                             xla=XLA[backend])
    rows = []

    def row(kind: str, batch: int, measured: dict, cold_s: Optional[float] = None) -> dict:
        return {"backend": backend, "precision": precision, "xla": XLA[backend], "batch": batch,
                "row": kind, "size": size, "steps": steps, "cold_s": cold_s, **measured}

    for batch in sorted(batches):
        request = base.replace(batch=batch)
        with PeakMemory() as memory:  # also resets the device's peak
            started = time.perf_counter()
            engine.generate(request)  # builds (first batch only), compiles for this batch
            cold = time.perf_counter() - started
            measured = _measure(engine, request)
        rows.append(row("default", batch, {**measured, "peak_rss_bytes": memory.peak_rss}, cold))
    if levers:
        request = base.replace(batch=1)
        for kind, options in LEVERS.items():
            lever = request.replace(**options["request"])
            engine.generate(lever.replace(steps=1), **options["generate"])  # compiles its shapes
            module.reset_peak_memory()
            rows.append(row(kind, 1, _measure(engine, lever, **options["generate"])))
    return rows


# ------------------------------------------------------------------ the parent

def spawn(backend: str, precision: str, args) -> list[dict]:
    command = [sys.executable, "-m", "engine.benchmark.gpu", "--child", backend, precision,
               "--size", str(args.size), "--steps", str(args.steps),
               "--batches", ",".join(map(str, args.batches))]
    if args.levers:
        command.append("--levers")
    env = dict(os.environ, KERAS_BACKEND=backend)
    started = time.perf_counter()
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True,
                              timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return [_failed(backend, precision, f"timed out after {args.timeout} s")]
    for line in done.stdout.splitlines():
        if line.startswith(RESULT_TAG):
            return json.loads(line[len(RESULT_TAG):])
    return [_failed(backend, precision, f"exit {done.returncode} after "
                    f"{time.perf_counter() - started:.0f} s: " + _error_line(done.stderr or done.stdout))]


def _error_line(output: str) -> str:
    """The exception's own line (Keras appends its call arguments after it), else the last."""
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    errors = [line for line in lines if re.match(r"^[\w.]+(Error|Exception|Exit)\b", line)]
    return (errors or lines or ["no output"])[-1]


def _failed(backend: str, precision: str, why: str) -> dict:
    return {"backend": backend, "precision": precision, "row": "failed", "error": why}


def _s(value, digits=3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _mib(value: Optional[int]) -> str:
    return "-" if value is None else f"{value / 2**20:,.0f}"


def render(rows: list[dict], peak_override: Optional[float]) -> str:
    cols = ["backend", "precision", "xla", "batch", "row", "s/step", "total s", "images/s",
            "cold s", "peak RSS MiB", "peak GPU MiB", "FLOP floor", "assumed peak TFLOP/s"]
    table = []
    for r in rows:
        if r["row"] == "failed":
            table.append([r["backend"], r["precision"], "", "", "failed: " + r["error"][:90]]
                         + [""] * (len(cols) - 5))
            continue
        peak = peak_tflops(r["device"], r["precision"] == "mixed", peak_override)
        fraction = floor_fraction(r["s_per_step"], r["batch"], r["size"], peak)
        memory = r["peak_gpu_bytes"]
        table.append([r["backend"], r["precision"], "on" if r["xla"] else "off", str(r["batch"]),
                      r["row"], _s(r["s_per_step"]), _s(r["total_s"], 2),
                      _s(r["images_per_s"], 3), _s(r["cold_s"], 1), _mib(r.get("peak_rss_bytes")),
                      _mib(memory),
                      "-" if fraction is None else f"{100 * fraction:.1f}%",
                      "-" if peak is None else f"{peak:g}"])
    widths = [max(len(c), *(len(t[i]) for t in table)) if table else len(c)
              for i, c in enumerate(cols)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths))  # noqa: E731
    return "\n".join([line(cols), line(["-" * w for w in widths])] + [line(t) for t in table])


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.benchmark.gpu",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=512, help="width and height (default 512)")
    parser.add_argument("--steps", type=int, default=50, help="DDIM steps (default 50)")
    parser.add_argument("--batches", type=lambda t: [int(x) for x in t.split(",")],
                        default=[1, 3], help="comma-separated batch sizes (default 1,3)")
    parser.add_argument("--backends", default=None,
                        help="comma-separated (default: every installed one)")
    parser.add_argument("--precisions", default="float32,mixed",
                        help="comma-separated from float32,mixed (default both)")
    parser.add_argument("--no-levers", action="store_true", help="skip the lever rows")
    parser.add_argument("--peak-tflops", type=float, default=None,
                        help="the device's peak TFLOP/s, when its name is not in the table")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per backend process")
    parser.add_argument("--json", default=None, help="also write the rows here")
    parser.add_argument("--child", nargs=2, metavar=("BACKEND", "PRECISION"), help=argparse.SUPPRESS)
    parser.add_argument("--levers", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        backend, precision = args.child
        rows = run_child(backend, precision, args.size, args.steps, args.batches, args.levers)
        print(RESULT_TAG + json.dumps(rows), flush=True)
        return 0

    from engine.compute.selection import installed_backends
    available = installed_backends()
    backends = args.backends.split(",") if args.backends else available
    precisions = args.precisions.split(",")
    problems = [f"unknown precision {p!r}" for p in precisions if p not in PRECISIONS]
    problems += [f"{b} is not installed here" for b in backends if b not in available]
    if problems:
        print("error: " + "; ".join(problems), file=sys.stderr)
        return 2
    from engine.compute.nvidia_smi import nvidia_gpus
    from engine.versions import versions
    gpus = nvidia_gpus()
    print(f"SD 1.4, random weights, {args.size}x{args.size}, {args.steps} steps; "
          f"versions: {', '.join(f'{k} {v}' for k, v in versions().items())}")
    print("GPU: " + (", ".join(f"{g.name} ({(g.memory_bytes or 0) / 2**30:.0f} GiB)" for g in gpus)
                     or "none found by nvidia-smi"), flush=True)
    rows: list[dict] = []
    for backend in backends:
        for precision in precisions:
            print(f"running {backend}, {precision} ...", file=sys.stderr, flush=True)
            # The levers run once per backend, in the last precision's process (mixed by default).
            args.levers = not args.no_levers and precision == precisions[-1]
            rows += spawn(backend, precision, args)
    devices = sorted({r["device"] for r in rows if "device" in r})
    print(f"devices: {', '.join(devices) or '-'}")
    print(render(rows, args.peak_tflops))
    print(f"FLOP floor: {UNET_TFLOP_512} TFLOP per UNet pass at 512x512 batch 1, "
          f"{PASSES_PER_STEP} passes per step, scaled by batch and pixels, over the assumed "
          "peak (16-bit tensor rate for mixed, TF32/float32 for float32).")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"rows": rows, "size": args.size, "steps": args.steps,
                       "gpus": [g.__dict__ for g in gpus], "versions": versions()}, handle, indent=2)
        print(f"JSON: {args.json}")
    return 0 if all(r["row"] != "failed" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
