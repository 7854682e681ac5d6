"""`python main.py models`: list, download, import and verify model weights; add, name and
export the checkpoint files a person has."""
from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from typing import Optional

from engine.events import CancelToken
from engine.errors import EngineError
from engine.commands.generate import add_checkpoint_dirs, use_checkpoint_dirs
from engine.commands.progress_bar import ProgressBar
from engine.models.errors import human_size



def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "models", help="list, download or import model weights",
        description="Model weights: where they are and whether they are complete and intact. "
                    "Without an action, lists every model.")
    weights_help = "use only this folder instead of the Keras cache and our models folder"
    parser.add_argument("--weights-dir", type=Path, default=None, help=weights_help)
    # SUPPRESS: an action's own default would otherwise wipe a --weights-dir given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--weights-dir", type=Path, default=argparse.SUPPRESS, help=weights_help)
    actions = parser.add_subparsers(dest="models_action", metavar="ACTION")

    ls = actions.add_parser("list", parents=[common], help="each model with its status and sizes (the default)")
    ls.add_argument("--verify", action="store_true",
                    help="check the sha256 of files not checked before (reads every byte)")

    dl = actions.add_parser("download", parents=[common], help="download a model's missing files, with a progress bar")
    dl.add_argument("name", help="model id, e.g. sd-v1.4")
    dl.add_argument("--base-url", default=None,
                    help="fetch every file as BASE_URL/<file name> (a mirror) instead of KerasCV's URLs")

    imp = actions.add_parser("import", parents=[common], help="verify and copy (or hard-link) a model's files from a folder")
    imp.add_argument("name", help="model id, e.g. sd-v1.4")
    imp.add_argument("folder", type=Path, help="folder holding the files under KerasCV's names")

    ver = actions.add_parser("verify", parents=[common], help="check every file's sha256 now, even ones checked before")
    ver.add_argument("name", nargs="?", default=None, help="model id (default: all)")

    add = actions.add_parser("add", help="use a checkpoint file (.safetensors) where it lies, "
                                         "without copying it")
    add.add_argument("file", type=Path)
    add.add_argument("--name", default=None, help="the name to choose it by (default: the file's)")
    rm = actions.add_parser("remove", help="stop using a checkpoint added with `add` (the file stays)")
    rm.add_argument("name")
    rename = actions.add_parser("rename", help="give a checkpoint another name")
    rename.add_argument("name")
    rename.add_argument("new_name")
    choose = actions.add_parser("set", help="a checkpoint's prediction type or VAE")
    choose.add_argument("name")
    choose.add_argument("--prediction", choices=("epsilon", "v", "auto"), default=None,
                        help="what its UNet predicts: epsilon (most), v (SD 2.x 768-v and "
                             "their fine-tunes), or auto (guess from the file)")
    choose.add_argument("--vae", default=None, metavar="FILE|none",
                        help="decode with this VAE file instead of the checkpoint's own "
                             "(`none`: its own again)")
    export = actions.add_parser("export", parents=[common],
                                help="write a checkpoint's networks under KerasCV's file names")
    export.add_argument("name")
    export.add_argument("folder", type=Path)
    for action in (parser, add, rm, rename, choose, export):
        add_checkpoint_dirs(action)

    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    _load_plugins()
    use_checkpoint_dirs(args)
    action = getattr(args, "models_action", None) or "list"
    from engine.models.library import LibraryError
    try:
        if action in CHECKPOINT_ACTIONS:
            return CHECKPOINT_ACTIONS[action](args)
        if action == "list":
            return _list(args.weights_dir, verify=getattr(args, "verify", False))
        if action == "download":
            return _download(args.name, args.weights_dir, args.base_url)
        if action == "import":
            return _import(args.name, args.folder, args.weights_dir)
        if action == "verify":
            return _verify(args.name, args.weights_dir)
    except (KeyError, LibraryError) as e:  # an unknown model, or a file we cannot use; said in full
        print(e.args[0] if e.args else e, file=sys.stderr)
        return 2
    except EngineError as e:
        print(f"\n{e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nStopped. Run the same command again to continue where it left off.",
              file=sys.stderr)
        return 130
    raise AssertionError(action)


def _load_plugins() -> None:
    try:
        importlib.import_module("engine.demo")  # registers the built-in model; no TensorFlow
    except ImportError:
        pass


def _list(weights_dir: Optional[Path], verify: bool) -> int:
    from engine.models.registry import all_models
    from engine.models.status import INSTALLED, UNVERIFIED, model_status

    bar = ProgressBar(sys.stderr) if verify else None
    any_unverified = False
    for spec in all_models():
        on_progress = (lambda n, d, t: bar.show(d / t if t else 1.0, f"checking {n}")) if bar else None
        status = model_status(spec, weights_dir, verify=verify, on_progress=on_progress)
        if bar:
            bar.clear()
        size = "built in" if not spec.files else (
            f"{human_size(status.bytes_present)} of ~{human_size(spec.approx_size)}")
        any_unverified |= bool(status.files_in(UNVERIFIED))
        print(f"{spec.id:<10} {status.state:<11} {size:<22} {spec.label}")
        for fs in status.files:
            if fs.state == INSTALLED and status.state == INSTALLED:
                continue
            where = fs.path if fs.state != "missing" else fs.path.parent
            print(f"    {fs.name:<28} {fs.state:<11} "
                  f"{human_size(fs.size):>9} of ~{human_size(fs.expected_size):<9} {where}")
    if any_unverified:
        print("\n'unverified' files are present but not yet checked: "
              "`python main.py models list --verify` checks them.")
    _list_checkpoints()
    return 0


def _list_checkpoints() -> None:
    from engine.models.families import BY_ID
    from engine.models.library import checkpoints_dir, library

    entries = library().entries()
    print(f"\nCheckpoints (put .safetensors files in {checkpoints_dir()}, or `models add FILE`):")
    if not entries:
        print("    none yet")
    for c in entries:
        if not c.usable:
            print(f"    {c.name:<24} cannot be used: {c.problem}\n        {c.path}")
            continue
        print(f"    {c.name:<24} {BY_ID[c.family].label:<7} {_prediction(c):<26} "
              f"{human_size(c.size):>9}  hash {c.short_hash or 'not yet computed'}")
        print(f"        {c.path}" + (f"\n        VAE: {c.vae}" if c.vae else ""))


def _prediction(c) -> str:
    how = "chosen" if c.prediction_set else "guessed from the file"
    return f"{'v-prediction' if c.prediction == 'v' else 'epsilon'} ({how})"


def _add(args) -> int:
    from engine.models.families import BY_ID
    from engine.models.library import library

    bar = ProgressBar(sys.stderr)
    try:
        c = library().add(args.file, args.name,
                          on_progress=lambda d, t: bar.show(d / t if t else 1.0, "computing its hash"))
    finally:
        bar.clear()
    print(f"added {c.name}: {BY_ID[c.family].label}, {_prediction(c)}, {human_size(c.size)}, "
          f"model hash {c.short_hash}\n    used where it is: {c.path}")
    if c.prediction == "v" and not c.prediction_set:
        print("    if its images come out as noise or flat colour, it may predict epsilon: "
              f"`python main.py models set {c.name} --prediction epsilon`")
    return 0


def _remove(args) -> int:
    from engine.models.library import library
    c = library().remove(args.name)
    print(f"removed {c.name}; the file is still at {c.path}")
    return 0


def _rename(args) -> int:
    from engine.models.library import library
    c = library().rename(args.name, args.new_name)
    print(f"{args.name} is now {c.name}")
    return 0


def _set(args) -> int:
    from engine.models.library import LibraryError, library
    if args.prediction is None and args.vae is None:
        raise LibraryError("Say what to set: --prediction and/or --vae.")
    c = library().require(args.name)
    if args.prediction is not None:
        c = library().set_prediction(c.name, None if args.prediction == "auto" else args.prediction)
    if args.vae is not None:
        c = library().set_vae(c.name, None if args.vae.lower() == "none" else Path(args.vae))
    print(f"{c.name}: {_prediction(c)}; VAE: {c.vae or 'its own'}")
    return 0


def _export(args) -> int:
    from engine.models.registry import get_model
    from engine.backends.kerascv_export import export_checkpoint

    spec = get_model(args.name)
    if spec.checkpoint is None:
        raise KeyError(f"{args.name} is not a checkpoint: its files already have KerasCV's names.")
    written = export_checkpoint(spec, args.folder,
                                on_network=lambda name: print(f"writing {name}", file=sys.stderr))
    for path in written:
        print(f"wrote {path}")
    model = "sd-v2.1" if spec.family == "sd-v2" else "sd-v1.4"
    print(f"run it with: python main.py generate --model {model} --weights-dir {args.folder} ...")
    if spec.prediction == "v":
        print("note: this checkpoint predicts v; KerasCV's own sampler (and generate --weights-dir) "
              "treat it as epsilon, so its images will be wrong there.", file=sys.stderr)
    return 0


CHECKPOINT_ACTIONS = {"add": _add, "remove": _remove, "rename": _rename, "set": _set,
                      "export": _export}


def _download(name: str, weights_dir: Optional[Path], base_url: Optional[str]) -> int:
    from engine.models.download import download_model
    from engine.models.status import model_status

    bar = ProgressBar(sys.stderr)

    def on_progress(p) -> None:
        if p.phase == "checking":
            bar.show(p.bytes_done / p.bytes_total if p.bytes_total else 1.0, f"checking {p.file_name}")
            return
        eta = p.overall_eta
        bar.show(p.fraction, f"{p.file_name} ({p.file_index}/{p.file_count}) "
                 f"{human_size(p.overall_done)} of {human_size(p.overall_total)}  "
                 f"{human_size(p.rate)}/s  ETA {_clock(eta) if eta is not None else '--:--'}")

    cancel = CancelToken()
    try:
        result = download_model(name, on_progress, cancel, weights_dir, base_url=base_url)
    finally:
        bar.clear()
    if result.cancelled:
        print("Stopped. Run the same command again to resume.", file=sys.stderr)
        return 130
    for path in result.fetched:
        print(f"downloaded {path}")
    for path in result.already_installed:
        print(f"already there {path}")
    status = model_status(name, weights_dir)
    print(f"{name}: {status.state}")
    return 0 if status.ready else 1


def _import(name: str, folder: Path, weights_dir: Optional[Path]) -> int:
    from engine.models.importer import import_model

    bar = ProgressBar(sys.stderr)
    try:
        report = import_model(name, folder, weights_dir,
                              on_progress=lambda n, d, t: bar.show(d / t if t else 1.0, f"checking {n}"))
    finally:
        bar.clear()
    for path in report.imported:
        how = "linked" if path in report.linked else "copied"
        print(f"{how} {path}")
    print(report.summary())
    return 0 if report.complete else 1


def _verify(name: Optional[str], weights_dir: Optional[Path]) -> int:
    from engine.models.registry import all_models, get_model
    from engine.models.status import model_status
    from engine.models.verify import VerifiedCache

    cache = VerifiedCache()
    specs = [get_model(name)] if name else all_models()
    bar = ProgressBar(sys.stderr)
    worst = 0
    for spec in specs:
        for fs in model_status(spec, weights_dir, cache=cache).files:
            if fs.state in ("installed", "unverified", "corrupt"):
                cache.forget(fs.path)  # asked for a real check, not the remembered one
        status = model_status(spec, weights_dir, verify=True, cache=cache,
                              on_progress=lambda n, d, t: bar.show(d / t if t else 1.0, f"checking {n}"))
        bar.clear()
        print(f"{spec.id:<10} {status.state}")
        for fs in status.files_in("corrupt"):
            print(f"    damaged: {fs.path}")
        if status.state not in ("installed",):
            worst = 1
    return worst


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
