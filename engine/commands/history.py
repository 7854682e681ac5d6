"""`python main.py history`: the image history from the command line.

    python main.py history                      recent images, newest first
    python main.py history --search fox -n 50   filtered
    python main.py history show 12              one image's recipe and file
    python main.py history rebuild              reconcile the database with the folder
    python main.py history rebuild --from-images  a new database from the images alone
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HISTORY_DIR_HELP = ("history folder (images, trash and database) for this run; default: "
                    "$SD_DESK_HISTORY_DIR, else the user data folder's 'history'")


def add_history_dir(parser: argparse.ArgumentParser, default=None) -> None:
    """The same flag for every command that touches the history (generate uses it too)."""
    parser.add_argument("--history-dir", type=Path, default=default, metavar="DIR",
                        help=HISTORY_DIR_HELP)


MAX_LISTED = 1_000_000_000
MAX_ID = 2**63 - 1  # SQLite's largest integer


def _whole_number(low: int, high: int):
    """An argparse type: a whole number in range, or argparse's one-line usage error."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"must be a whole number from {low} to {high}; got {text[:40]!r}")
        return value
    return parse


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "history", help="list, inspect or rebuild the image history",
        description="The images SD Desk has made, newest first. Every image is a PNG that "
                    "carries its own recipe; the database is an index that can be rebuilt.")
    add_history_dir(parser)
    parser.add_argument("-n", "--limit", type=_whole_number(0, MAX_LISTED), default=20,
                        help="how many to list (default 20)")
    parser.add_argument("--search", default="", help="words the prompt must contain")
    parser.add_argument("--favorites", action="store_true", help="favorites only")
    parser.add_argument("--model", default=None, help="only images made with this model label")
    parser.add_argument("--sampler", default=None, type=_sampler,
                        help="only images made with this sampler (ours, e.g. dpmpp-2m-karras, "
                             "or A1111's name, e.g. 'DPM++ 2M Karras')")
    parser.add_argument("--trash", action="store_true", help="list the trash instead")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.set_defaults(func=run, history_action="list")
    actions = parser.add_subparsers(dest="history_action", metavar="ACTION")

    # SUPPRESS: a flag given before the action is not reset by the action's own default.
    show = actions.add_parser("show", help="one image's recipe and file")
    show.add_argument("id", type=_whole_number(1, MAX_ID))
    add_history_dir(show, default=argparse.SUPPRESS)

    rebuild = actions.add_parser(
        "rebuild", help="bring the database in line with the image folder",
        description="Imports images the database lacks (from their own metadata), marks "
                    "entries whose file has gone as missing, relinks moved files.")
    rebuild.add_argument("--from-images", action="store_true",
                         help="build the index anew from the images alone, in one swap "
                              "(favorites and trash are kept)")
    add_history_dir(rebuild, default=argparse.SUPPRESS)


def _sampler(text: str) -> str:
    import argparse

    from engine.samplers import names
    found = names.from_either(text)
    if found is None:
        raise argparse.ArgumentTypeError(names.unknown_message(text))
    return found


def run(args) -> int:
    from engine.history import HistoryError
    from engine.request import text_problem

    for flag, value in (("--search", getattr(args, "search", "")), ("--model", getattr(args, "model", None))):
        problem = text_problem(value) if value else None
        if problem:
            print(f"error: {flag} {problem}", file=sys.stderr)
            return 2
    try:
        if args.history_action == "rebuild":
            return _rebuild(args)
        if args.history_action == "show":
            return _show(args)
        return _list(args)
    except HistoryError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def _open(args, reconcile: bool = True):
    from engine.history import HistoryStore

    store = HistoryStore(args.history_dir, reconcile=reconcile)
    if store.damaged_db is not None:
        print(f"note: the history database was damaged; it was rebuilt from the images "
              f"and the old file kept as {store.damaged_db}", file=sys.stderr)
    if store.read_only:
        print(f"note: read-only: {store.read_only}", file=sys.stderr)
    skipped = len(store.skipped())
    if skipped and args.history_action != "rebuild":
        noun, verb = ("file", "is") if skipped == 1 else ("files", "are")
        print(f"note: {skipped} {noun} in the folder {verb} not in the history (unreadable); "
              f"`history rebuild` lists them with why", file=sys.stderr)
    return store


def _list(args) -> int:
    from engine.history import Filters

    filters = Filters(text=args.search, favorites_only=args.favorites, model=args.model,
                      sampler=args.sampler, trash=args.trash)
    with _open(args) as store:
        total = store.count(filters)
        records = store.page(0, args.limit, filters)
        if args.json:
            for r in records:
                print(json.dumps({"id": r.id, "created": r.created.isoformat(), "prompt": r.prompt,
                                  "seed": r.seed, "model": r.model, "width": r.width,
                                  "height": r.height, "favorite": r.favorite, "path": str(r.path)},
                                 ensure_ascii=False))
            return 0
        if not records:
            print("No images." if not total else f"No images on this page ({total} in all).")
        for r in records:
            star = "*" if r.favorite else " "
            prompt = " ".join(r.prompt.split())
            prompt = prompt if len(prompt) <= 60 else prompt[:59] + "\u2026"
            print(f"{r.id:6d} {star} {r.created:%Y-%m-%d %H:%M}  {r.model:<12s} "
                  f"{'' if r.seed is None else r.seed:>10}  {r.width}x{r.height}  {prompt}")
        print(f"{len(records)} of {total} shown; history folder: {store.root}", file=sys.stderr)
    return 0


def _show(args) -> int:
    from engine.pngmeta import format_parameters

    with _open(args, reconcile=False) as store:
        detail = store.get(args.id)
        if detail is None:
            print(f"error: no image {args.id} in {store.root}", file=sys.stderr)
            return 2
        state = "in the trash" if detail.deleted else "missing" if detail.missing else "ok"
        print(f"file:    {detail.path} ({state})")
        print(f"created: {detail.created:%Y-%m-%d %H:%M:%S %Z}")
        print(f"model:   {detail.model}    device: {detail.device or '-'}    {detail.width}x{detail.height}")
        if detail.timings:
            print("timings: " + ", ".join(f"{k} {v:.2f}s" for k, v in detail.timings.items()))
        if detail.request is not None:
            print()
            print(format_parameters(detail.request, detail.request.seed, detail.model))
            if detail.recipe_lacks:
                print(f"(not in the file's recipe, or unreadable there; shown as the defaults: "
                      f"{', '.join(detail.recipe_lacks)})")
        else:
            print("(this image carried no recipe)")
    return 0


def _rebuild(args) -> int:
    with _open(args, reconcile=False) as store:
        try:
            report = store.rebuild() if args.from_images else store.reconcile()
        except KeyboardInterrupt:
            # --from-images swaps in one transaction; reconcile commits file by file.
            print("Stopped; the history is as it was before the rebuild." if args.from_images
                  else "Stopped; what was reconciled so far is kept. Run it again to finish.",
                  file=sys.stderr)
            return 130
        print(report.summary())
        for name, why in report.skipped:
            print(f"  skipped {name}: {why}", file=sys.stderr)
        print(f"{store.count()} images in {store.root}")
    return 0
