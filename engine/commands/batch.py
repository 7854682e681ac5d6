"""`python main.py batch PROMPTS.txt`: many images from a prompt file and grid axes.

    python main.py batch prompts.txt --model demo --out out/
    python main.py batch prompts.txt --grid steps=10,20,40 --grid seed=1,2 --out out/
    python main.py batch prompts.txt --ray local --out out/        (or --ray HOST:6379)
"""
from __future__ import annotations

import sys

from engine.batch.axes import AXIS_NAMES
from engine.commands.generate import (add_request_options, build_request, make_engine,
                                     use_checkpoint_dirs)
from engine.commands.progress_bar import ProgressBar


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "batch", help="make images from a prompt file, optionally over grid axes",
        description="One job per prompt line (lines starting with # are comments) and per "
                    "combination of the --grid values. Each image goes to --out and to the "
                    "history; with one or two axes a labelled grid-*.png is saved as well.")
    parser.add_argument("prompts", metavar="PROMPTS.txt", help="one prompt per line")
    parser.add_argument("--grid", action="append", default=[], metavar="NAME=V1,V2,...",
                        help=f"vary one setting over these values; NAME is one of "
                             f"{', '.join(AXIS_NAMES)} (size: 512x768 or 512; prompt: "
                             "replace the first value in the prompt with each of the others). "
                             "Repeat for more axes; quote a value holding a comma")
    parser.add_argument("--ray", metavar="ADDRESS", default=None,
                        help="run on a Ray cluster (HOST:PORT, as `ray start --head` prints), "
                             "or 'local' for a Ray instance on this machine")
    add_request_options(parser)
    parser.set_defaults(func=run)


def run(args) -> int:
    from engine.batch import BatchError
    from engine.batch.axes import parse_axes
    from engine.batch.plan import plan_batch
    from engine.batch.prompts import read_prompt_file
    from engine.errors import EngineError

    problems, prompts, axes = [], [], []
    use_checkpoint_dirs(args)  # before the axes: a model axis may name their checkpoints
    for step in (lambda: prompts.extend(read_prompt_file(args.prompts)),
                 lambda: axes.extend(parse_axes(args.grid))):
        try:
            step()
        except BatchError as error:
            problems.extend(error.problems)
    if problems:
        return _fail("\n".join(problems))
    args.prompt = prompts[0].text
    try:
        plan = plan_batch(prompts, axes, build_request(args).replace(preview=False))
    except (BatchError, EngineError) as error:  # EngineError: --weights-dir
        return _fail(str(error))
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        return _fail(f"Cannot create the output folder {args.out}: {error.strerror}")
    return _run_plan(plan, args)


def _run_plan(plan, args) -> int:
    import sqlite3

    from engine.batch.output import BatchOutput
    from engine.batch.progress import BatchProgress, format_duration
    from engine.batch.ray_cluster import ClusterError
    from engine.history import HistoryError, HistoryStore

    try:
        history = None if args.no_history else HistoryStore(args.history_dir, reconcile=False)
    except (HistoryError, OSError, sqlite3.Error) as error:
        return _fail(f"Cannot open the history: {error}")
    output = BatchOutput(plan, args.out, history)
    bar = ProgressBar(sys.stderr)
    progress = BatchProgress(len(plan.jobs), bar.show)
    where = f"Ray ({args.ray})" if args.ray else "this machine"
    print(f"{len(plan.jobs)} job(s), {plan.images} image(s) on {where}", file=sys.stderr)

    def saved(job, result) -> None:
        for path in output.accept(job, result):
            print(path)
        progress.job_finished(job=job.id)

    def failed(job, message) -> None:
        output.fail(job, message)
        progress.job_finished(failed=True, job=job.id)

    def stepped(job, fraction) -> None:
        progress.job_step(fraction, job.id)

    try:
        if args.ray:
            from engine.batch.ray_cluster import WorkerPool, ray_session, run_on_cluster
            with ray_session(args.ray) as ray, \
                    WorkerPool(ray, args.weights_dir, args.random_weights) as pool:
                run = run_on_cluster(pool, plan.jobs, saved, failed, on_step=stepped)
            print(f"{run.actors} Ray worker(s); {len(run.reruns)} job(s) run again after a "
                  "worker died", file=sys.stderr)
        else:
            from engine.batch.local import run_here
            run_here(make_engine(args), plan.jobs, saved, failed, stepped)
    except ClusterError as error:
        return _fail(str(error))
    except (HistoryError, OSError, sqlite3.Error) as error:
        return _fail(f"Stopped: could not save an image ({error}); the images before it "
                     f"are in {args.out}.")
    except KeyboardInterrupt:
        bar.clear()
        return _fail(f"Interrupted after {output.finished} of {len(plan.jobs)} job(s); "
                     f"their images are in {args.out}.")
    finally:
        bar.clear()
        if history is not None:
            history.close()
    for path in output.save_grids():
        print(path)
    elapsed = format_duration(progress.elapsed())
    for job, message in output.failures():
        print(f"error: job {job.index + 1} (line {job.line.number}): {message}", file=sys.stderr)
    print(f"{output.finished - len(output.failures())} of {len(plan.jobs)} job(s) done in "
          f"{elapsed}" + ("" if args.no_history else "; images added to the history"),
          file=sys.stderr)
    return 1 if output.failures() else 0


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2
