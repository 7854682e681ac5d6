"""`python main.py benchmark`: KerasCV's tutorial table on this machine, and ours beside it."""
from __future__ import annotations

import sys
from pathlib import Path

from engine.benchmark.settings import CONFIGS, BenchmarkSettings, parse_configs


def register(subparsers) -> None:
    d = BenchmarkSettings()
    parser = subparsers.add_parser(
        "benchmark", help="time generation in the four KerasCV configurations",
        description="KerasCV's tutorial comparison (standard, mixed precision, XLA, XLA + mixed "
                    "precision) on this machine: the cold first run and the median warm run of "
                    "each, seconds per step and peak memory, with our step loop timed against "
                    "KerasCV's own at the same settings and weights. Defaults are the "
                    "tutorial's (batch 3, 50 steps, 512x512); on a CPU try "
                    "--batch 1 --steps 5 --width 128 --height 128.")
    parser.add_argument("--model", default=d.model, help=f"model id (default {d.model})")
    parser.add_argument("--batch", type=int, default=d.batch, help=f"images per run (default {d.batch})")
    parser.add_argument("--steps", type=int, default=d.steps, help=f"denoising steps (default {d.steps})")
    parser.add_argument("--width", type=int, default=d.width, help=f"multiple of 128 (default {d.width})")
    parser.add_argument("--height", type=int, default=d.height, help=f"multiple of 128 (default {d.height})")
    parser.add_argument("--runs", type=int, default=d.runs,
                        help=f"timed warm runs per configuration and side (default {d.runs})")
    parser.add_argument("--configs", type=parse_configs, default=d.configs,
                        help=f"comma-separated, from {','.join(CONFIGS)} (default: all)")
    parser.add_argument("--random-weights", action="store_true",
                        help="untrained weights: no download needed, real timings, meaningless images")
    parser.add_argument("--weights-dir", type=Path, default=None,
                        help="load weights from this folder instead of the model cache")
    parser.add_argument("--no-compare", action="store_true",
                        help="time our loop only, not KerasCV's text_to_image beside it")
    parser.add_argument("--no-preview", action="store_true", help="time our loop without previews")
    parser.add_argument("--json", type=Path, default=None, help="write the full report here")
    parser.add_argument("--chart", type=Path, default=None, help="write a bar chart PNG here")
    parser.add_argument("--app", action="store_true",
                        help="instead: window-appears time, time to first image, GUI stalls "
                             "while generating, opening a 10,000-image history")
    parser.add_argument("--samplers", action="store_true",
                        help="instead: each sampler's distance to a 200-step reference at 1-50 "
                             "steps on the demo model (8 prompts x 2 seeds), the fewest steps "
                             "within 2 pixel levels, and each sampler's cost per step beyond the "
                             "network on SD 1.4 with random weights (--json, --chart)")
    parser.add_argument("--no-overhead", action="store_true",
                        help="with --samplers: skip the Stable Diffusion overhead measurement")
    parser.add_argument("--img2img", action="store_true",
                        help="instead: image to image on the demo model (distance to the source "
                             "at each strength, what inpainting keeps, each outpainting fill's "
                             "seam), then SD 1.4's VAE round trip and encoding time at 128 and "
                             "512 with random weights (--json)")
    parser.add_argument("--no-sd", action="store_true",
                        help="with --img2img: skip the Stable Diffusion measurements")
    parser.add_argument("--checkpoints", action="store_true",
                        help="instead: time to the first image and peak memory loading a float16 "
                             ".safetensors checkpoint and the same weights in KerasCV's .h5 files "
                             "(each in a fresh process), and switching between two checkpoints "
                             "(random SD 1.x weights unless --checkpoint FILE; --size, --steps)")
    parser.add_argument("--prompts", action="store_true",
                        help="instead: parsing and chunking a 300-token prompt, the UNet's call "
                             "at 77, 154 and 231 tokens of context (--size, default 256 here), "
                             "and reading, applying, switching and taking off a 144 MB LoRA "
                             "(random SD 1.x networks)")
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="with --checkpoints: time this file instead of a random one")
    parser.add_argument("--size", type=int, default=None,
                        help="with --checkpoints (default 512) or --prompts (default 256)")
    parser.add_argument("--hires", action="store_true",
                        help="instead: hires fix and the tiled VAE: decode peak memory at 512-2048 "
                             "px whole and in tiles (each in its own process), tiles against the "
                             "whole, each pass's time at 512 -> 1024 on SD random weights, and the "
                             "demo model hires-fixed against a plain resize")
    parser.add_argument("--api", action="store_true",
                        help="instead: the HTTP API (serve) on the demo model: overhead per "
                             "txt2img over the same job through the queue, 64 jobs from one and "
                             "from 8 clients; /progress requests per second while a job runs; "
                             "200 requests of valid and invalid bodies, interrupts and "
                             "disconnects, then the history checked and memory before and after")
    parser.add_argument("--app-steps", type=int, default=10, help="steps for --app's generations")
    parser.add_argument("--app-size", type=int, default=128, help="size for --app's generations")
    parser.set_defaults(func=run)


def settings_from(args) -> BenchmarkSettings:
    return BenchmarkSettings(model=args.model, batch=args.batch, steps=args.steps,
                             width=args.width, height=args.height, runs=args.runs,
                             configs=tuple(args.configs), random_weights=args.random_weights,
                             compare=not args.no_compare, preview=not args.no_preview)


def run(args) -> int:
    if args.hires:
        from engine.benchmark.hires import main as hires_benchmark
        return hires_benchmark([] if args.json is None else ["--json", str(args.json)])
    if args.api:
        from engine.benchmark.api_load import main as api_load
        api_load()
        return 0
    if args.app:
        return _run_app(args)
    if args.samplers:
        return _run_samplers(args)
    if args.img2img:
        return _run_img2img(args)
    if args.prompts:
        from engine.benchmark.prompts import main as prompts
        return prompts(args.size or 256)
    if args.checkpoints:
        from engine.benchmark.checkpoints import main as checkpoints
        return checkpoints(args.size or 512, args.steps if args.steps != BenchmarkSettings().steps else 2,
                           args.json, args.checkpoint)
    from engine.benchmark import chart, report, runner
    from engine.errors import EngineError
    from engine.request import GenerationRequest

    settings = settings_from(args)
    problems = settings.problems() + [p.message for p in GenerationRequest(
        "x", steps=settings.steps, width=settings.width, height=settings.height,
        batch=settings.batch, model=settings.model).validate()]
    if problems:
        print("error: " + "\n".join(problems), file=sys.stderr)
        return 2
    from engine.pipeline import Engine
    engine = Engine(weights_dir=args.weights_dir, random_weights=args.random_weights)
    try:
        partial = (lambda so_far: report.write_json(so_far, args.json)) if args.json else None
        result = runner.run(settings, engine, on_progress=_ProgressLine(sys.stderr),
                            on_config=partial)
    except (EngineError, ValueError) as error:
        print(f"\nerror: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nCancelled.", file=sys.stderr)
        return 130
    print(file=sys.stderr)
    print(report.render(result))
    if args.json:
        print(f"JSON: {report.write_json(result, args.json)}")
    if args.chart:
        print(f"chart: {chart.save(result, args.chart)}")
    return 0


def _status_line(message: str) -> None:
    sys.stderr.write(f"\r{message}".ljust(60))
    sys.stderr.flush()


def _run_samplers(args) -> int:
    from engine.benchmark import report, sampler_chart, samplers
    from engine.demo.backend import load_demo_backend

    conv = samplers.convergence(load_demo_backend(samplers.SIZE, samplers.SIZE), progress=_status_line)
    over = None
    if not args.no_overhead:
        from engine.pipeline import Engine
        over = samplers.overheads(Engine(random_weights=True), progress=_status_line)
    print(file=sys.stderr)
    print(samplers.render(conv, over))
    if args.json:
        print(f"JSON: {report.write_json(samplers.to_dict(conv, over), args.json)}")
    if args.chart:
        print(f"chart: {sampler_chart.save(conv, args.chart)}")
    return 0


def _run_img2img(args) -> int:
    from engine.benchmark import img2img, report

    result = img2img.demo_distances(progress=_status_line)
    if not args.no_sd:
        result.sd = img2img.sd_measures(progress=_status_line)
    print(file=sys.stderr)
    print(img2img.render(result))
    if args.json:
        print(f"JSON: {report.write_json(img2img.to_dict(result), args.json)}")
    return 0


def _run_app(args) -> int:
    from engine.benchmark import app, report
    result = app.run(steps=args.app_steps, size=args.app_size)
    print(app.render(result))
    if args.json:
        print(f"JSON: {report.write_json(result, args.json)}")
    return 0


class _ProgressLine:
    def __init__(self, stream):
        self.stream = stream

    def __call__(self, p) -> None:
        step = ""
        if p.step is not None and p.step.phase == "denoising":
            step = f" step {p.step.step}/{p.step.total}"
        elif p.step is not None:
            step = f" {p.step.phase}"
        self.stream.write(f"\r[{p.done}/{p.total}] {p.message}{step}".ljust(78)[:120])
        self.stream.flush()
