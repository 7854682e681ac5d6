"""Entry point: the desktop app by default, or a command-line tool.

    python main.py                 the window
    python main.py --self-test     build the window offscreen, make one small image, exit 0
    python main.py generate ...    text to image from the command line
    python main.py batch ...       many images from a prompt file, grids, a Ray cluster
    python main.py info            versions, compute backend and device, folders
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

# The folders chosen in Edit > Preferences count from here on, the log's first of all.
from engine.preferences import apply_folders

apply_folders()

# A windowed build starts with no stdout/stderr; give them a log file before any import
# below can reach Keras, whose progress bar writes to sys.stdout unchecked.
from engine.runtime_log import route_missing_streams

route_missing_streams()

# TensorFlow's C++ start-up chatter would bury our own messages on stderr.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Each subcommand lives in engine/commands/<name>.py with register(subparsers).
SUBCOMMANDS = ["generate", "batch", "models", "history", "benchmark", "info", "serve"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="main.py",
        description="Local, offline-first Stable Diffusion text-to-image on KerasCV.",
    )
    parser.add_argument("--self-test", action="store_true",
                        help="build the window offscreen, run one small generation, exit 0 on success")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"engine.commands.{name}").register(subparsers)
    return parser


def choose_compute_backend() -> None:
    """Keras reads its backend once, when first imported: decide it before that
    (engine/compute/selection.py says in which order the sources count)."""
    from engine.compute import selection
    try:
        choice = selection.apply()
    except RuntimeError as error:  # no backend installed at all
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    for note in choice.notes:
        print(f"note: {note}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    choose_compute_backend()
    args = build_parser().parse_args(argv)
    if args.command:
        try:
            return int(args.func(args) or 0)
        finally:
            # --no-history keeps a source image in a temporary folder (engine/commands/
            # generate.py's source_store) for this run only: no copy outlives it.
            scratch = getattr(args, "_scratch_sources", None)
            if scratch:
                import shutil
                shutil.rmtree(scratch, ignore_errors=True)
    if args.self_test:
        from gui.selftest import run_self_test
        return run_self_test()
    from gui.app import run_app
    return run_app()


if __name__ == "__main__":
    sys.exit(main())
