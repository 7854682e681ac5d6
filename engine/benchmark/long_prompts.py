"""What a long prompt costs the UNet: one diffusion call with a context of 77, 154 and
231 tokens (one, two and three chunks), on untrained SD 1.x networks.

    python -m engine.benchmark.long_prompts [--size 256] [--repeats 3]

Prints, per length, the first call (which traces the compiled call for that length)
and the median of the later calls.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def measure(size: int = 256, repeats: int = 3, chunks: tuple[int, ...] = (1, 2, 3)) -> list[dict]:
    from engine import compute
    from engine.backends.keras_sd import Components, timestep_embedding
    from engine.models import registry

    components = Components(registry.get_model("sd-v1.4"), size, size)
    call = compute.current().compiled(components.diffusion_model, jit=False)
    rng = np.random.default_rng(0)
    latent = rng.standard_normal((1, size // 8, size // 8, 4), np.float32)
    embedding = timestep_embedding(500.0)
    rows = []
    for count in chunks:
        context = rng.standard_normal((1, 77 * count, 768), np.float32)
        inputs = {"latent": latent, "timestep_embedding": embedding, "context": context}
        started = time.perf_counter()
        call(inputs)
        first = time.perf_counter() - started
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            call(inputs)
            times.append(time.perf_counter() - started)
        rows.append({"tokens": 77 * count, "first_call_s": first, "median_call_s": statistics.median(times)})
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    rows = measure(args.size, args.repeats)
    base = rows[0]["median_call_s"]
    print(f"UNet call at {args.size}x{args.size}, batch 1, float32, {args.repeats} repeats:")
    for row in rows:
        print(f"  {row['tokens']:4d} tokens: first call {row['first_call_s']:.2f} s (traces), "
              f"then {row['median_call_s']:.2f} s ({row['median_call_s'] / base:.2f}x of 77)")


if __name__ == "__main__":
    main()
