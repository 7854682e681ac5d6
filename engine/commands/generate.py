"""`python main.py generate`: text to PNG files from the command line."""
from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

from engine.commands.history import add_history_dir
from engine.commands.progress_bar import ProgressBar
from engine.request import GenerationRequest


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "generate", help="make images from a prompt",
        description="Make images from a text prompt and write one PNG per image, each "
                    "carrying its full recipe (A1111 'parameters' text and our JSON).")
    parser.add_argument("--prompt", required=True, help="what the image should show")
    add_request_options(parser)
    parser.set_defaults(func=run)


def add_request_options(parser) -> None:
    """Every option of a request but its prompt, and where images go (batch shares them)."""
    parser.add_argument("--negative-prompt", default="", help="what the image should not show")
    parser.add_argument("--seed", type=int, default=None,
                        help="0 to 2^32-1; image i of a batch uses seed+i (default: random)")
    parser.add_argument("--steps", type=int, default=50, help="denoising steps, 1-200 (default 50)")
    parser.add_argument("--guidance", type=float, default=7.5,
                        help="classifier-free guidance scale, 0-30 (default 7.5)")
    parser.add_argument("--width", type=int, default=512, help="multiple of 64, 128-1024 (default 512)")
    parser.add_argument("--height", type=int, default=512, help="multiple of 64, 128-1024 (default 512)")
    parser.add_argument("--batch", type=int, default=1, help="images per prompt, 1-8 (default 1)")
    parser.add_argument("--model", default=None,
                        help="sd-v1.4, sd-v2.1 or demo (default: Stable Diffusion 1.4 when its "
                             "weights are installed, else the built-in demo)")
    parser.add_argument("--mixed-precision", action="store_true",
                        help="float16 compute with float32 weights (fast on recent GPUs)")
    parser.add_argument("--xla", action="store_true", help="compile the models with XLA (jit_compile)")
    parser.add_argument("--weights-dir", type=Path, default=None,
                        help="load weights from this folder (KerasCV file names; not checked "
                             "against KerasCV's hashes and recorded as custom)")
    parser.add_argument("--random-weights", action="store_true",
                        help="untrained weights: real speed, meaningless images (for testing)")
    parser.add_argument("--no-preview", action="store_true", help="skip the per-step preview")
    parser.add_argument("--out", type=Path, required=True, help="folder for the PNG files")
    parser.add_argument("--no-history", action="store_true",
                        help="do not add the images to the history as well")
    add_history_dir(parser)


def make_engine(args):
    from engine.pipeline import Engine
    return Engine(weights_dir=args.weights_dir, random_weights=args.random_weights)


def build_request(args) -> GenerationRequest:
    import secrets

    from engine.models.default import default_model_id
    model = args.model or default_model_id(args.weights_dir)
    seed = args.seed if args.seed is not None else secrets.randbelow(2**32)
    return GenerationRequest(
        prompt=args.prompt, negative_prompt=args.negative_prompt, seed=seed, steps=args.steps,
        guidance=args.guidance, width=args.width, height=args.height, batch=args.batch,
        model=model, mixed_precision=args.mixed_precision, xla=args.xla,
        preview=not args.no_preview)


def run(args) -> int:
    from engine.events import EngineError

    request = build_request(args)
    problems = request.validate()  # cheap checks first: no model is loaded for a typo
    if problems:
        return _fail("\n".join(p.message for p in problems))
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        return _fail(f"Cannot create the output folder {args.out}: {error.strerror}")
    engine = make_engine(args)
    progress = _ProgressLine(sys.stderr)
    try:
        result = engine.generate(request, on_progress=progress)
    except EngineError as error:
        return _fail(str(error))
    finally:
        progress.bar.clear()
    if result.cancelled:
        return _fail("Cancelled.")
    for path in save_result(result, args.out):
        print(path)
    if not args.no_history:
        return add_to_history(result, args.history_dir)
    return 0


def add_to_history(result, history_dir) -> int:
    """The history keeps its own copies: the --out files are the person's to move or delete."""
    import sqlite3

    from engine.history import HistoryError, HistoryStore
    try:
        with HistoryStore(history_dir, reconcile=False) as store:
            records = store.add_result(result)
    except (HistoryError, OSError, sqlite3.Error) as error:
        print(f"error: the images are in --out but not in the history: {error}", file=sys.stderr)
        return 1
    print(f"added {len(records)} image(s) to the history in {store.root}", file=sys.stderr)
    return 0


def save_result(result, folder: Path) -> list[Path]:
    from engine.pngmeta import save_png

    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    paths = []
    for image in result.images:
        path = _free_name(folder, f"{stamp}-{image.seed}")
        paths.append(save_png(path, image.pixels, result.request, image.seed, result.model_label,
                              result.backend, result.device))
    return paths


def _free_name(folder: Path, stem: str) -> Path:
    path, n = folder / f"{stem}.png", 1
    while path.exists():
        n += 1
        path = folder / f"{stem}-{n}.png"
    return path


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


class _ProgressLine:
    """The generation's phase, then step k/n with seconds per step, on the shared bar."""

    def __init__(self, stream):
        self.bar = ProgressBar(stream)

    def __call__(self, progress) -> None:
        if progress.phase != "denoising":
            self.bar.show(progress.step / max(progress.total, 1), f"{progress.phase}...")
        else:
            rate = f" {progress.step_seconds:.2f}s/step" if progress.step_seconds else ""
            self.bar.show(progress.step / max(progress.total, 1),
                          f"step {progress.step}/{progress.total}{rate}")
