"""What loading a checkpoint costs: time to the first image and peak memory, each in a fresh
process, for a float16 original-layout .safetensors file and for KerasCV's .h5 format (the
same weights, exported by `models export`), and what switching between two checkpoints of
one family costs once the networks are built.

    python main.py benchmark --checkpoints [--size 512] [--steps 2] [--json FILE]

Random weights in the real formats (no download here): the timings are real.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Runs in a fresh process: one generation, with the engine's own phase timings.
CHILD = r"""
import json, sys, time
started = time.perf_counter()
from pathlib import Path
from engine.models.library import library
from engine.pipeline import Engine
from engine.request import GenerationRequest
model, weights, size, steps, folder, second = sys.argv[1:7]
if folder:
    library().add_folders([Path(folder)])
engine = Engine(weights_dir=Path(weights))
request = GenerationRequest("a lighthouse", steps=int(steps), width=int(size), height=int(size),
                            model=model, preview=False, seed=1, sampler="ddim")
first = engine.generate(request)
report = {"first_image_s": time.perf_counter() - started, "loading_s": first.timings["loading"]}
if second:
    swap = engine.generate(request.replace(model=second))
    report["switch_loading_s"] = swap.timings["loading"]
import resource  # this process's peak resident memory (Linux: KiB)
report["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print("RESULT " + json.dumps(report))
"""


def _run_child(*args: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    child = subprocess.Popen([sys.executable, "-c", CHILD, *args], cwd=ROOT, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    started = time.perf_counter()
    out, err = child.communicate()
    wall = time.perf_counter() - started
    line = next((l for l in out.splitlines() if l.startswith("RESULT ")), None)
    if child.returncode != 0 or line is None:
        raise RuntimeError(f"benchmark child failed:\n{err[-3000:]}")
    report = json.loads(line[len("RESULT "):])
    report["process_s"] = wall
    return report


def measure(size: int, steps: int, work: Path, checkpoint: Path | None = None) -> dict:
    from engine.backends.placeholder_vocab import write_placeholder_vocabulary
    from engine.models.random_checkpoint import write_random_checkpoint
    from engine.models.registry import VOCABULARY

    vocabulary = work / "vocabulary"
    vocabulary.mkdir(exist_ok=True)
    write_placeholder_vocabulary(vocabulary / VOCABULARY.name)
    folder = work / "checkpoints"
    folder.mkdir(exist_ok=True)
    if checkpoint is None:
        checkpoint = write_random_checkpoint(folder / "random-sd1.safetensors", "sd-v1", seed=11)
    else:
        os.symlink(checkpoint, folder / checkpoint.name)
    name = checkpoint.stem
    twin = folder / f"{name}-twin.safetensors"
    try:  # another path to the same bytes: to the library, a second checkpoint
        os.link(checkpoint.resolve(), twin)
        second = twin.stem
    except OSError:  # another file system: no switch row
        second = ""
    exported = work / "exported"
    done = subprocess.run([sys.executable, "main.py", "models", "export", name, str(exported),
                           "--checkpoints-dir", str(folder)], cwd=ROOT, capture_output=True,
                          text=True, env=dict(os.environ, PYTHONPATH=str(ROOT),
                                              SD_DESK_MODELS_DIR=str(work / "models")))
    if done.returncode != 0:
        raise RuntimeError(f"export failed:\n{done.stderr[-3000:]}")
    write_placeholder_vocabulary(exported / VOCABULARY.name)
    rows = {
        "float16 .safetensors": _run_child(name, str(vocabulary), str(size), str(steps), str(folder),
                                           second),
        "KerasCV .h5 (exported)": _run_child("sd-v1.4", str(exported), str(size), str(steps), "", ""),
    }
    return {"size": size, "steps": steps, "checkpoint_bytes": checkpoint.stat().st_size,
            "rows": rows}


def print_report(result: dict) -> None:
    print(f"SD 1.x, {result['size']}x{result['size']}, {result['steps']} DDIM steps, random weights, "
          f"each row a fresh process (checkpoint {result['checkpoint_bytes'] / 1e9:.2f} GB)")
    print(f"{'format':<26}{'first image s':>15}{'loading s':>11}{'peak RSS MiB':>14}")
    for label, row in result["rows"].items():
        print(f"{label:<26}{row['first_image_s']:>15.1f}{row['loading_s']:>11.1f}"
              f"{row['peak_rss_mib']:>14,.0f}")
    swap = result["rows"]["float16 .safetensors"].get("switch_loading_s")
    if swap is not None:
        first = result["rows"]["float16 .safetensors"]["loading_s"]
        print(f"switching to another SD 1.x checkpoint, networks kept: {swap:.1f} s of loading "
              f"(the first load, building them: {first:.1f} s)")


def main(size: int = 512, steps: int = 2, json_path: Path | None = None,
         checkpoint: Path | None = None) -> int:
    with tempfile.TemporaryDirectory(prefix="sd-desk-ckpt-bench-") as scratch:
        result = measure(size, steps, Path(scratch), checkpoint)
    print_report(result)
    if json_path is not None:
        Path(json_path).write_text(json.dumps(result, indent=2))
    return 0
