"""How the history store holds up at 10,000 images.

    python -m engine.history.bench                    # fills a temporary store, then times it
    python -m engine.history.bench --dir /tmp/h10k    # keeps the store for the next run

Timed, each several times on a fresh HistoryStore (the OS file cache is warm
after the first run; say so when quoting numbers):
  open + first page   HistoryStore(folder) (database check, migration check,
                      reconcile of the folders that changed) then count() and page(0, 100)
  after a new image   the same once more, after one image was added: its folder
                      (all of them, in one month's folder here) is listed again
  search              count() and page(0, 100) with a text filter
Aims on the team's machine: open + first page under 200 ms, a search under 50 ms.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from engine.events import GeneratedImage, GenerationResult
from engine.history.store import Filters, HistoryStore
from engine.request import GenerationRequest

WORDS = """fox cat owl whale castle forest river mountain city street market harbor lantern
garden desert glacier meadow temple tower bridge ship train robot dragon knight wizard
portrait landscape sunset sunrise night storm fog rain snow autumn spring neon golden
silver crimson azure emerald misty ancient futuristic cozy gloomy serene vibrant
watercolor oil painting sketch photo cinematic detailed minimal surreal isometric
""".split()
STYLES = ["highly detailed", "8k", "by a famous painter", "trending on artstation", "soft light",
          "volumetric lighting", "wide angle", "bokeh"]
MODELS = ["sd-v1.4", "sd-v2.1", "demo"]
BATCH = 4
PAGE = 100


def _prompt(rng: random.Random, n: int) -> str:
    words = rng.sample(WORDS, rng.randint(3, 8))
    text = "a " + " ".join(words) + ", " + ", ".join(rng.sample(STYLES, 2))
    if n % 97 == 0:
        text += ", lighthouse"  # a rare word: about 1% of the prompts
    return text


def fill(store: HistoryStore, entries: int, seed: int = 0) -> float:
    rng = random.Random(seed)
    # Small, flat images: the benchmark is about the index, not PNG encoding.
    pixels = np.full((64, 64, 3), 128, np.uint8)
    start = time.perf_counter()
    have = store.count()
    n = 0
    while have < entries:
        batch = min(BATCH, entries - have)
        request = GenerationRequest(prompt=_prompt(rng, n), negative_prompt="blurry, lowres",
                                    seed=rng.randrange(2**32 - BATCH), batch=batch,
                                    model=rng.choice(MODELS))
        images = [GeneratedImage(pixels, s) for s in request.seeds()]
        store.add_result(GenerationResult(request, images, request.model, "CPU",
                                          timings={"denoising": 1.0}))
        have += batch
        n += 1
        if n % 250 == 0:
            print(f"  filled {have}/{entries}", file=sys.stderr, flush=True)
    return time.perf_counter() - start


def _ms(seconds: list[float]) -> str:
    return f"median {statistics.median(seconds) * 1000:7.1f} ms   worst {max(seconds) * 1000:7.1f} ms"


def run(folder: Path, entries: int, repeat: int) -> dict[str, list[float]]:
    with HistoryStore(folder) as store:
        fill_s = fill(store, entries)
        total = store.count()
    if fill_s > 0.5:
        print(f"fill: {fill_s:.1f} s for {total} images ({fill_s / max(total, 1) * 1000:.1f} ms each)")
    print(f"store: {folder} ({total} images)")

    timings: dict[str, list[float]] = {"open": [], "open + first page": [], "search": []}
    queries = ["fox", "lighthouse", "misty cas", "golden dragon portrait"]
    per_query: dict[str, list[float]] = {q: [] for q in queries}
    for _ in range(repeat):
        start = time.perf_counter()
        store = HistoryStore(folder)
        opened = time.perf_counter()
        count = store.count()
        first = store.page(0, PAGE)
        done = time.perf_counter()
        assert count == total and len(first) == min(PAGE, total)
        timings["open"].append(opened - start)
        timings["open + first page"].append(done - start)
        for query in queries:
            t0 = time.perf_counter()
            filters = Filters(text=query)
            store.count(filters)  # the gallery counts, then pages
            store.page(0, PAGE, filters)
            elapsed = time.perf_counter() - t0
            per_query[query].append(elapsed)
            timings["search"].append(elapsed)
        store.close()
    with HistoryStore(folder, reconcile=False) as store:
        hit_counts = {q: store.count(Filters(text=q)) for q in queries}
        fill(store, total + 1, seed=1)  # one more image: its folder must be listed again
    start = time.perf_counter()
    with HistoryStore(folder) as store:
        store.count()
        store.page(0, PAGE)
        listed = store.last_report.folders_listed
    timings["after a new image"] = [time.perf_counter() - start]

    print(f"{'open (check, reconcile)':42s}{_ms(timings['open'])}")
    print(f"{'open + first page':42s}{_ms(timings['open + first page'])}   (aim < 200 ms)")
    print(f"{'the same, after a new image':42s}{_ms(timings['after a new image'])}   "
          f"(its folder of {_largest_folder(folder)} files listed again; {listed} folder(s))")
    for query in queries:
        label = f"search {query!r} ({hit_counts[query]} hits)"
        print(f"{label:42s}{_ms(per_query[query])}   (aim < 50 ms)")
    return timings


def _largest_folder(folder: Path) -> int:
    return max((len(files) for _, _, files in os.walk(folder / "images")), default=0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.history.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--dir", type=Path, help="store folder to fill (kept) or reuse")
    args = parser.parse_args(argv)
    if args.dir:
        run(args.dir, args.entries, args.repeat)
    else:
        with tempfile.TemporaryDirectory(prefix="sd-desk-bench-") as folder:
            run(Path(folder), args.entries, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
