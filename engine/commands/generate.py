"""`python main.py generate`: text to PNG files from the command line."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Optional

from engine.commands.history import add_history_dir
from engine.commands.progress_bar import ProgressBar
from engine.request import (HIRES_MAX_SIDE, HIRES_SCALE_RANGE, HIRES_UPSCALERS, GenerationRequest, Hires,
                            require_upscaler, upscaler_slug)
from engine.samplers import names as sampler_names

_DEFAULTS = GenerationRequest("")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "generate", help="make images from a prompt",
        description="Make images from a text prompt and write one PNG per image, each "
                    "carrying its full recipe (A1111 'parameters' text and our JSON).")
    parser.add_argument("--prompt", required=True, help="what the image should show")
    add_request_options(parser)
    add_image_options(parser)
    parser.set_defaults(func=run)


def add_image_options(parser) -> None:
    """Image to image, inpainting and outpainting."""
    from engine.request import INPAINT_FILLS, MASK_BLUR_RANGE, SIDE_STEP, Source
    defaults = Source("")
    group = parser.add_argument_group("image to image")
    group.add_argument("--init-image", type=Path, default=None, metavar="PATH",
                       help="start from this image; the output takes its size (snapped to "
                            f"multiples of {SIDE_STEP}) and --width/--height are not used")
    group.add_argument("--strength", type=float, default=defaults.strength, metavar="X",
                       help="how much of the image to repaint, 0-1: 0 keeps it, 1 ignores it "
                            f"(default {defaults.strength})")
    group.add_argument("--mask", type=Path, default=None, metavar="PATH",
                       help="inpainting: white is repainted, black kept (default: the image's "
                            "transparent parts, if it has any, else all of it)")
    group.add_argument("--mask-blur", type=int, default=defaults.mask_blur, metavar="N",
                       help=f"soften the mask's edge by N pixels, {MASK_BLUR_RANGE[0]}-"
                            f"{MASK_BLUR_RANGE[1]} (default {defaults.mask_blur})")
    group.add_argument("--outpaint", type=_margins, default=None, metavar="LEFT,TOP,RIGHT,BOTTOM",
                       help=f"extend the canvas by these margins (multiples of {SIDE_STEP}) and "
                            "paint them")
    group.add_argument("--inpaint-fill", choices=INPAINT_FILLS, default=defaults.inpaint_fill,
                       help="what the masked area and margins start from (A1111's Masked "
                            "content): fill (colours from around it), original (as it is; "
                            "changes little below strength 1), latent-noise, latent-nothing "
                            f"(default {defaults.inpaint_fill})")


def _margins(text: str) -> tuple[int, int, int, int]:
    import argparse
    parts = [p.strip() for p in text.split(",")]
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 4:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give four whole numbers of pixels, LEFT,TOP,RIGHT,BOTTOM, such as 0,0,128,0")
    return values


def add_request_options(parser) -> None:
    """Every option of a request but its prompt, and where images go (batch shares them)."""
    parser.add_argument("--negative-prompt", default="", help="what the image should not show")
    parser.add_argument("--seed", type=int, default=None,
                        help="0 to 2^32-1; image i of a batch uses seed+i (default: random)")
    parser.add_argument("--sampler", default=_DEFAULTS.sampler, metavar="NAME",
                        help=f"one of: {sampler_names.described()} (default {_DEFAULTS.sampler})")
    parser.add_argument("--steps", type=int, default=_DEFAULTS.steps,
                        help=f"denoising steps, 1-200 (default {_DEFAULTS.steps})")
    parser.add_argument("--guidance", type=float, default=7.5,
                        help="classifier-free guidance scale, 0-30 (default 7.5)")
    parser.add_argument("--clip-skip", type=int, default=_DEFAULTS.clip_skip, metavar="N",
                        help="A1111's Clip skip: read the prompt N layers before the text "
                             "encoder's end, 1-12 (default 1; many SD 1.x fine-tunes expect 2)")
    parser.add_argument("--width", type=int, default=512, help="multiple of 64, 128-1024 (default 512)")
    parser.add_argument("--height", type=int, default=512, help="multiple of 64, 128-1024 (default 512)")
    parser.add_argument("--batch", type=int, default=1, help="images per prompt, 1-8 (default 1)")
    add_hires_options(parser)
    parser.add_argument("--model", default=None,
                        help="sd-v1.4, sd-v2.1, demo or a checkpoint's name (`models` lists them; "
                             "default: the preferred model when its weights are installed, else "
                             "the built-in demo)")
    add_checkpoint_dirs(parser)
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


def add_hires_options(parser) -> None:
    """A1111's hires fix: any of these turns it on."""
    hires = Hires()
    parser.add_argument("--hires-scale", type=float, default=None, metavar="X",
                        help=f"hires fix: a second pass at X times the size, {HIRES_SCALE_RANGE[0]:g}-"
                             f"{HIRES_SCALE_RANGE[1]:g} (default {hires.scale:g} when another "
                             "--hires option is given)")
    parser.add_argument("--hires-size", type=_hires_size, default=None, metavar="WxH",
                        help="hires fix to this size instead of a factor (0 for a side follows "
                             f"the image's shape; sides up to {HIRES_MAX_SIDE})")
    parser.add_argument("--hires-steps", type=int, default=None, metavar="N",
                        help="steps of the hires pass (default 0: as many as the first pass)")
    parser.add_argument("--hires-denoise", type=float, default=None, metavar="S",
                        help=f"denoising strength of the hires pass, 0-1 (default {hires.denoise:g})")
    parser.add_argument("--hires-upscaler", type=_upscaler, default=None, metavar="NAME",
                        help="how the first pass is enlarged: "
                             + ", ".join(upscaler_slug(n) for n in HIRES_UPSCALERS)
                             + f" (default {upscaler_slug(hires.upscaler)})")


def _hires_size(text: str) -> tuple[int, int]:
    parts = text.lower().split("x")
    try:
        width, height = (int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give WIDTHxHEIGHT, such as 1024x1024 "
                                         "(0 for a side that follows the image's shape)") from None
    return width, height


def _upscaler(text: str) -> str:
    try:
        return require_upscaler(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def hires_from(args) -> Optional[Hires]:
    """The hires fix the --hires options ask for, or None when none is given."""
    given = {name: getattr(args, f"hires_{name}", None)
             for name in ("scale", "size", "steps", "denoise", "upscaler")}
    if all(value is None for value in given.values()):
        return None
    hires = Hires()
    if given["size"] is not None:
        hires = hires.replace(width=given["size"][0], height=given["size"][1])
    for name in ("scale", "steps", "denoise", "upscaler"):
        if given[name] is not None:
            hires = hires.replace(**{name: given[name]})
    return hires


def add_checkpoint_dirs(parser) -> None:
    parser.add_argument("--checkpoints-dir", type=Path, action="append", default=[], metavar="DIR",
                        help="also use the checkpoints in this folder (e.g. an A1111 "
                             "models/Stable-diffusion or a ComfyUI models/checkpoints folder) "
                             "for this run; repeat for more")
    parser.add_argument("--lora-dir", type=Path, action="append", default=[], metavar="DIR",
                        help="also use the LoRA files in this folder for this run (<lora:NAME:WEIGHT> "
                             "in the prompt); repeat for more")
    parser.add_argument("--embeddings-dir", type=Path, action="append", default=[], metavar="DIR",
                        help="also use the textual-inversion embeddings in this folder for this "
                             "run (write an embedding's file name in the prompt); repeat for more")


def use_checkpoint_dirs(args) -> None:
    if getattr(args, "checkpoints_dir", None):
        from engine.models.library import library
        library().add_folders(args.checkpoints_dir)
    from engine.models import extra_networks
    for kind, folders in (("lora", getattr(args, "lora_dir", None)),
                          ("embedding", getattr(args, "embeddings_dir", None))):
        if folders:
            extra_networks.add_run_folders(kind, folders)


def make_engine(args):
    from engine.pipeline import Engine
    return Engine(weights_dir=args.weights_dir, random_weights=args.random_weights,
                  sources=source_store(args))


def source_store(args):
    """Where this command keeps source images: the history's folder, which a queued or
    reused request can find again (a temporary one with --no-history)."""
    from engine.img2img.store import SourceStore
    if getattr(args, "no_history", False):
        if getattr(args, "_scratch_sources", None) is None:
            import tempfile
            args._scratch_sources = tempfile.mkdtemp(prefix="sd-desk-sources-")
        return SourceStore(args._scratch_sources)
    return SourceStore.of_history(getattr(args, "history_dir", None))


def build_request(args) -> GenerationRequest:
    import secrets

    from engine.default_model import DEMO, default_model_id
    from engine.errors import EngineError
    from engine.preferences import default_model
    use_checkpoint_dirs(args)
    problem = weights_dir_problem(args.weights_dir)
    if problem:
        raise EngineError(problem)
    # None is "not given"; an empty --model "" is a mistake that validation names.
    model = args.model if args.model is not None else default_model_id(args.weights_dir)
    if args.model is None and args.weights_dir is not None and not args.random_weights \
            and model == DEMO and default_model() != DEMO:
        raise EngineError(_no_model_in(args.weights_dir))
    seed = args.seed if args.seed is not None else secrets.randbelow(2**32)
    request = GenerationRequest(
        prompt=args.prompt, negative_prompt=args.negative_prompt, seed=seed, sampler=args.sampler,
        steps=args.steps, guidance=args.guidance, clip_skip=args.clip_skip,
        width=args.width, height=args.height, batch=args.batch,
        model=model, mixed_precision=args.mixed_precision, xla=args.xla,
        preview=not args.no_preview, hires=hires_from(args))
    return with_source(args, request)


def weights_dir_problem(folder: Optional[Path]) -> Optional[str]:
    """Why --weights-dir cannot be looked in, or None: asked once, up front, so that an
    unreadable folder or an overlong name is one sentence, not an OSError from the first
    file looked for in it."""
    if folder is None:
        return None
    try:
        with os.scandir(folder):
            pass
    except FileNotFoundError:
        return f"--weights-dir {_short(folder)} does not exist."
    except NotADirectoryError:
        return f"--weights-dir {_short(folder)} is a file, not a folder."
    except PermissionError:
        return (f"--weights-dir {_short(folder)} cannot be read (permission denied): give "
                "this user read access to it, or choose another folder.")
    except (OSError, ValueError) as error:  # a name too long, a NUL, an I/O error
        why = getattr(error, "strerror", None) or str(error)
        return f"--weights-dir {_short(folder)} cannot be used: {why}."
    return None


def _no_model_in(folder: Path) -> str:
    """--weights-dir without --model: the person means the weights there, so a folder whose
    files are missing or damaged is said, not quietly replaced by the demo model."""
    from engine.errors import EngineError
    from engine.models import registry
    from engine.models.status import require_installed
    spec = registry.STABLE_DIFFUSION_MODELS[0]
    for candidate in registry.STABLE_DIFFUSION_MODELS:  # the one whose files are there, if any
        if any((Path(folder) / wf.name).exists() for wf in candidate.files if wf.required):
            spec = candidate
            break
    try:
        require_installed(spec, folder, verify=False)
        why = ""
    except EngineError as error:
        why = f"\n{error}"
    return (f"--weights-dir {_short(folder)} holds no Stable Diffusion model that can be "
            f"used, and without --model the demo model would have been used instead; name "
            f"the model with --model (--model demo for the built-in demo).{why}")


def _short(path: Path, limit: int = 120) -> str:
    """A path for a message: a 300-character name would bury the sentence."""
    text = str(path)
    return text if len(text) <= limit else text[:limit // 2] + "\u2026" + text[-limit // 2:]


def with_source(args, request: GenerationRequest) -> GenerationRequest:
    """The request with --init-image and its options as its Source part (stored, checked);
    raises ImageProblem with the one message a bad image or option deserves. What was
    adjusted (a size snapped, a mask resized) is said on stderr."""
    image = getattr(args, "init_image", None)
    if image is None:
        for flag, given in (("--mask", getattr(args, "mask", None)),
                            ("--outpaint", getattr(args, "outpaint", None))):
            if given is not None:
                from engine.img2img.images import ImageProblem
                raise ImageProblem(f"{flag} needs --init-image: the image to repaint.")
        return request
    from engine.img2img.prepare import prepare
    from engine.request import DEFAULT_INPAINT_FILL
    prepared = prepare(source_store(args), image, args.mask, strength=args.strength,
                       mask_blur=args.mask_blur, outpaint=args.outpaint or (0, 0, 0, 0),
                       inpaint_fill=getattr(args, "inpaint_fill", DEFAULT_INPAINT_FILL))
    for note in prepared.notes:
        print(f"note: {note}", file=sys.stderr)
    return request.replace(source=prepared.source, width=prepared.width, height=prepared.height)


def invocation_problems(args, request: GenerationRequest) -> list[str]:
    """Everything that can be known wrong before TensorFlow starts (this imports none of it):
    the request's values, the model and its files' structure, the output folder."""
    from engine.errors import EngineError
    from engine.models import registry
    from engine.models.status import require_image_encoder, require_installed
    from engine.out_folder import folder_problem

    from engine.prompt_rules import prompt_problems, rules_for
    problems = [p.message for p in prompt_problems(request, rules_for(request.model))
                if p.field != "model"]
    from engine.jobs.queue import size_problem
    if not problems and size_problem(request):  # the queue would refuse it (a prompt over 64 KiB)
        problems.append(size_problem(request))
    try:
        spec = registry.get_model(request.model)
    except KeyError as error:
        return problems + [str(error.args[0])]
    # A checkpoint's one missing file, CLIP's vocabulary, is fetched by the engine.
    if spec.family != "demo" and not args.random_weights and spec.checkpoint is None:
        try:
            require_installed(spec, args.weights_dir, verify=False)  # the hash is the loader's
            if request.source is not None:
                require_image_encoder(spec, args.weights_dir)
        except EngineError as error:
            problems.append(str(error))
    folder = folder_problem(args.out)
    if folder:
        problems.append(f"Cannot write to the output folder {_short(args.out)}: {folder}.")
    return problems


def run(args) -> int:
    """One job through the same queue and runner the window uses; the queue is in memory,
    since this process is its only user and a person re-runs a command that died."""
    from engine.jobs import Failed, Finished, JobQueue, Runner
    from engine.out_folder import prepare_folder

    from engine.errors import EngineError
    try:
        request = build_request(args)
    except EngineError as error:  # a bad source image, --weights-dir
        return _fail(str(error))
    problems = invocation_problems(args, request)  # cheap checks first: no model is loaded for a typo
    if problems:
        return _fail("\n".join(problems))
    folder = prepare_folder(args.out)  # created only now that a generation will run
    if folder:
        return _fail(f"Cannot write to the output folder {args.out}: {folder}.")
    queue = JobQueue()
    progress = _ProgressLine(sys.stderr)
    queue.subscribe(progress)
    runner = Runner(queue, lambda: make_engine(args),
                    None if args.no_history else lambda: _open_history(args.history_dir))
    queue.add(request)
    try:
        ending = runner.run(queue.take())
    except KeyboardInterrupt:
        progress.bar.clear()
        print("Cancelled.", file=sys.stderr)
        return 130
    finally:
        progress.bar.clear()
        runner.close(release_engine=False)  # the engine may be a caller's (tests share one)
    if isinstance(ending, Failed):
        return _fail(ending.message)
    if not isinstance(ending, Finished):
        return _fail("Cancelled.")
    kept = [record.path for record in ending.saved]
    return keep_images(ending.result, args.out, args.history_dir, kept,
                       ending.unsaved or None)


def _open_history(history_dir):
    from engine.history import HistoryStore
    return HistoryStore(history_dir, reconcile=False)


def keep_images(result, out: Path, history_dir, kept: list[Path],
                history_error: Optional[str]) -> int:
    """--out after the history copy the runner made (`kept`, or `history_error` why not, or
    neither when declined): an image never exists only in memory while something can still
    fail. When --out refuses, the error says where the images are."""
    from engine.out_folder import FolderWriteError, save_to_folder

    try:
        written = save_to_folder(result, out)
    except FolderWriteError as error:
        where = "the history"
        if not kept:  # declined or failed: the history is the rescue, and the last is a temp folder
            kept, history_error = add_to_history(result, history_dir)
        if not kept:
            kept, where = _save_to_temp(result), "a temporary folder"
        if not kept:
            print(f"error: cannot write to the output folder {out}: {error.reason}; nor to the "
                  f"history ({history_error}) or a temporary folder: the images were not saved",
                  file=sys.stderr)
            return 1
        for path in kept:
            print_path(path)
        print(f"error: cannot write to the output folder {out}: {error.reason}; "
              f"{_written_note(error.written)}the {len(kept)} image(s) are in {where}: "
              f"{kept[0].parent}", file=sys.stderr)
        return 1
    for path in written:
        print_path(path)
    if history_error:
        print(f"error: the images are in --out but not in the history: {history_error}",
              file=sys.stderr)
        return 1
    if kept:
        print(f"added {len(kept)} image(s) to the history in {kept[0].parent}", file=sys.stderr)
    return 0


def print_path(path: Path) -> None:
    """One path a line on stdout; one with bytes that are not UTF-8 goes out as those bytes
    (as ls does), where print() would raise UnicodeEncodeError."""
    line = str(path) + "\n"
    try:
        sys.stdout.write(line)
    except UnicodeEncodeError:
        sys.stdout.flush()
        sys.stdout.buffer.write(line.encode("utf-8", "surrogateescape"))
        sys.stdout.buffer.flush()


def _save_to_temp(result) -> list[Path]:
    import tempfile

    from engine.out_folder import FolderWriteError, save_to_folder
    try:
        return save_to_folder(result, Path(tempfile.mkdtemp(prefix="sd-desk-unsaved-")))
    except (OSError, FolderWriteError):
        return []


def _written_note(written: list[Path]) -> str:
    return f"{len(written)} written there before it failed; " if written else ""


def add_to_history(result, history_dir) -> tuple[list[Path], Optional[str]]:
    """The history keeps its own copies (the --out files are the person's to move or delete):
    (paths of the copies, None), or ([], why they could not be kept)."""
    import sqlite3

    from engine.history import HistoryError, HistoryStore
    try:
        with HistoryStore(history_dir, reconcile=False) as store:
            records = store.add_result(result)
    except (HistoryError, OSError, sqlite3.Error) as error:
        return [], str(error)
    return [r.path for r in records], None


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


class _ProgressLine:
    """The job's phase, then step k/n with the time left, on the shared bar."""

    def __init__(self, stream):
        self.bar = ProgressBar(stream)

    def __call__(self, event) -> None:
        from engine.durations import format_duration
        from engine.jobs import JobProgress
        if not isinstance(event, JobProgress) or event.phase == "saving":
            return  # saving: the lines that follow say where the images went
        fraction = event.step / max(event.total, 1)
        if event.phase != "denoising":
            self.bar.show(fraction, f"{event.phase}...")
            return
        left = f", {format_duration(event.eta_seconds, compact=True)} left" \
            if event.eta_seconds is not None else ""
        self.bar.show(fraction, f"step {event.step}/{event.total}{left}")
