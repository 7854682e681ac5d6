"""What a LoRA costs to put on and take off: reading the file, the first merge, a switch to
another weight, and taking it off, on built SD 1.x networks.

    python -m engine.benchmark.lora_merge [--rank 128] [--runs 3]

The LoRA is random but the size of a typical SD 1.5 LoRA file (kohya format, float16,
rank 128, every attention, feed-forward and projection layer of the UNet and every
text-encoder layer: 144 MiB). Run from the repository: the file is written by the
test suite's own writer (tests/engine/lora_files.py), which writes the real format.
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

SIZE = 64  # the latent size does not change any weight, so the smallest will do


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def measure(work: Path, rank: int = 128, runs: int = 3) -> dict:
    """Seconds for each step (medians over `runs` where a step repeats), the file's size
    and the memory kept for taking the LoRA off."""
    from tests.engine.lora_files import write_lora  # the suite's writer: see the module's note

    from engine.backends.keras_sd import Components
    from engine.backends.lora_weights import LoraWeights
    from engine.models.lora_file import read_lora
    from engine.models.registry import get_model

    path = work / "random-lora.safetensors"
    write_lora(path, "sd-v1", "kohya", unet_kinds=("attention", "ff", "proj"), text=True,
               rank=rank, alpha=rank / 2, dtype="float16", seed=5)
    started = time.perf_counter()
    components = Components(get_model("sd-v1.4"), SIZE, SIZE)
    build = time.perf_counter() - started
    reads = []
    for _ in range(runs):
        started = time.perf_counter()
        lora = read_lora(path)
        reads.append(time.perf_counter() - started)
    weights = LoraWeights(components, "sd-v1")
    first = _timed(lambda: weights.apply([(lora, 1.0, 1.0)]))
    kept = weights.kept_bytes
    same = _timed(lambda: weights.apply([(lora, 1.0, 1.0)]))
    switches, offs, ons = [], [], []
    for run in range(runs):
        switches.append(_timed(lambda: weights.apply([(lora, 0.5 + 0.1 * run, 0.8)])))
        offs.append(_timed(lambda: weights.apply([])))
        ons.append(_timed(lambda: weights.apply([(lora, 1.0, 1.0)])))
    result = {"file_bytes": path.stat().st_size, "rank": rank, "modules": len(lora.modules),
              "build_s": build, "read_s": statistics.median(reads), "first_apply_s": first,
              "same_list_s": same, "switch_weight_s": statistics.median(switches),
              "take_off_s": statistics.median(offs), "apply_again_s": statistics.median(ons),
              "kept_bytes": kept, "runs": runs}
    return result


def print_report(result: dict) -> None:
    print(f"SD 1.x networks, a random kohya LoRA: rank {result['rank']}, float16, "
          f"{result['modules']} modules, {result['file_bytes'] / 2**20:.0f} MiB "
          f"(medians of {result['runs']} where repeated)")
    rows = (("read_lora", "read_s"), ("first apply (1.0 / 1.0)", "first_apply_s"),
            ("the same list again", "same_list_s"), ("switch to other weights", "switch_weight_s"),
            ("take it off (apply [])", "take_off_s"), ("apply again after taking off", "apply_again_s"))
    for label, key in rows:
        print(f"  {label:<32}{result[key]:>9.3f} s")
    print(f"  original values kept to take it off: {result['kept_bytes'] / 2**20:.0f} MiB "
          f"(building the networks took {result['build_s']:.1f} s)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rank", type=int, default=128)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sd-desk-lora-bench-") as scratch:
        result = measure(Path(scratch), args.rank, args.runs)
    print_report(result)
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
