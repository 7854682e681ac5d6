"""`benchmark --hires`: what hires fix and the tiled VAE cost and give.

- decode memory: peak RSS of KerasCV's decoder at several widths, whole and in tiles,
  each in a fresh child process (its own peak), random weights;
- tiles against the whole on one latent: largest and mean pixel difference, and the
  outpainting seam score (engine/benchmark/img2img.py) across the tile edges;
- each pass's time at 512 -> 1024 on Stable Diffusion with random weights;
- on the demo model: hires fix against a plain resize of the first pass, by whether the
  shape keeps its position and colour (the demo evaluation's reading) and by edge
  sharpness (variance of the Laplacian).
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Callable

import numpy as np

from engine.backends import tiled_vae
from engine.benchmark.img2img import seam_score

Progress = Callable[[str], None]
DECODE_WIDTHS = (512, 1024, 1536, 2048)
BENCH_TILE = 64  # latent cells: 512-pixel tiles
BENCH_OVERLAP = 16


def tile_edges(size: int, tile: int, overlap: int) -> tuple[int, ...]:
    """Interior pixel columns where a tile starts or ends (all in output pixels)."""
    starts = tiled_vae._starts(size, tile, overlap)
    edges = {s for s in starts if s > 0} | {s + tile for s in starts if s + tile < size}
    return tuple(sorted(edges))


def tile_differences(whole: np.ndarray, tiles: np.ndarray, tile_pixels: int,
                     overlap_pixels: int) -> dict[str, float]:
    """Largest and mean level difference, and the seam score of the tiled image across
    its tile edges (rows and columns) less the whole image's at the same places: what
    tiling added. 0 is no visible seam."""
    diff = np.abs(whole.astype(np.float64) - tiles.astype(np.float64))
    seams = []
    for a, b in ((whole, tiles), (whole.transpose(0, 2, 1, 3), tiles.transpose(0, 2, 1, 3))):
        edges = tuple(e for e in tile_edges(a.shape[2], tile_pixels, overlap_pixels)
                      if 8 <= e <= a.shape[2] - 9)
        if edges:
            seams.append(seam_score(b, edges) - seam_score(a, edges))
    return {"max": float(diff.max()), "mean": float(diff.mean()),
            "seam": float(max(seams)) if seams else 0.0}


def _child_decode(width: int, tiled: bool) -> dict:
    """Runs in its own process: builds the decoder it needs, decodes once, reports."""
    import resource

    import psutil
    from keras_cv.src.models.stable_diffusion.decoder import Decoder

    latent_side = width // 8
    side = min(BENCH_TILE, latent_side) if tiled else latent_side
    decoder = Decoder(side * 8, side * 8, download_weights=False)
    built = psutil.Process().memory_info().rss
    latent = np.random.default_rng(0).normal(size=(1, latent_side, latent_side, 4)).astype(np.float32)
    started = time.perf_counter()
    if tiled:
        tiled_vae.tiled(latent, decoder.predict_on_batch, side, BENCH_OVERLAP, up=8)
    else:
        decoder.predict_on_batch(latent)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: kB
    return {"width": width, "tiled": tiled, "peak_rss": peak, "above_model": peak - built,
            "seconds": seconds}


def decode_memory(widths=DECODE_WIDTHS, progress: Progress = lambda m: None) -> list[dict]:
    """Each width whole (only where the estimate fits in what is free now) and tiled."""
    rows = []
    for width in widths:
        for tiled in (False, True):
            if not tiled and tiled_vae.tile_for(width // 8, width // 8, 1, tiled_vae.free_bytes()):
                rows.append({"width": width, "tiled": False, "skipped": "does not fit"})
                continue
            progress(f"decode {width} {'tiled' if tiled else 'whole'}")
            done = subprocess.run([sys.executable, "-m", "engine.benchmark.hires", "--decode-child",
                                   str(width), "tiled" if tiled else "whole"],
                                  capture_output=True, text=True, check=False)
            lines = done.stdout.strip().splitlines()
            rows.append(json.loads(lines[-1]) if done.returncode == 0 and lines
                        else {"width": width, "tiled": tiled, "skipped": done.stderr[-300:]})
    return rows


def pass_times(steps: int = 2, hires_steps: int = 2, progress: Progress = lambda m: None,
               width: int = 512) -> dict:
    """`width` -> twice that (Latent) on SD 1.4 with random weights: seconds of each pass."""
    from engine.pipeline import Engine
    from engine.request import GenerationRequest, Hires
    engine = Engine(random_weights=True)
    request = GenerationRequest("a lighthouse", steps=steps, seed=1, preview=False, width=width,
                                height=width, hires=Hires(scale=2, steps=hires_steps, denoise=0.5))
    progress(f"hires {width} -> {2 * width} on SD random weights")
    timings = engine.generate(request).timings
    first, second = timings["first_pass"], timings["second_pass"]
    return {"loading": timings.get("loading", 0.0), "first_pass": first, "upscale": timings["upscale"],
            "second_pass": second,
            "second_share": second / (first + timings["upscale"] + second),
            "steps": steps, "hires_steps": hires_steps, "width": width}


def sharpness(images: np.ndarray) -> float:
    """Variance of the Laplacian of the grey levels: higher is crisper edges. (The mean
    gradient magnitude would not do: across a monotonic edge it sums to the same rise
    however blurred the edge is.)"""
    grey = np.asarray(images, np.float64).mean(axis=-1)
    laplacian = (grey[:, 1:-1, :-2] + grey[:, 1:-1, 2:] + grey[:, :-2, 1:-1] + grey[:, 2:, 1:-1]
                 - 4 * grey[:, 1:-1, 1:-1])
    return float(laplacian.var())


def demo_comparison(upscaler: str = "Lanczos", denoise: float = 0.5, steps: int = 20,
                    progress: Progress = lambda m: None) -> dict:
    """The demo model's held-out captions at 128, hires-fixed to 256 against the first
    pass resized (Lanczos) to 256: shares keeping position and colour, and sharpness."""
    from engine.demo import scenes
    from engine.demo.evaluate import matches
    from engine.hires.upscale import resize_pixels
    from engine.pipeline import Engine
    from engine.request import GenerationRequest, Hires
    engine = Engine()
    kept = {"hires": [], "plain": []}
    sharp = {"hires": [], "plain": []}
    for i, (caption, expected) in enumerate(scenes.eval_captions()):
        progress(f"demo {i + 1}: {caption}")
        base = GenerationRequest(caption, model="demo", seed=1000 + i, steps=steps, width=128,
                                 height=128, preview=False)
        first = engine.generate(base).images[0].pixels
        plain = resize_pixels(first[None], 256, 256)[0]
        fixed = engine.generate(base.replace(hires=Hires(scale=2, denoise=denoise, upscaler=upscaler))
                                ).images[0].pixels
        for name, image in (("plain", plain), ("hires", fixed)):
            judged = matches(expected, image)
            kept[name].append(judged["position"] and judged["colour"])
            sharp[name].append(sharpness(image[None]))
    return {"captions": len(kept["plain"]), "upscaler": upscaler, "denoise": denoise,
            **{f"{name}_kept": float(np.mean(v)) for name, v in kept.items()},
            **{f"{name}_sharpness": float(np.mean(v)) for name, v in sharp.items()}}


def render(report: dict) -> str:
    lines = ["VAE decode, KerasCV decoder, random weights, batch 1, float32, this CPU "
             f"(tiles of {BENCH_TILE * 8} px, overlap {BENCH_OVERLAP * 8} px):"]
    for row in report.get("decode", []):
        kind = "tiled" if row["tiled"] else "whole"
        if "skipped" in row:
            lines.append(f"  {row['width']:>5} px {kind:<6} not run ({row['skipped'][:80]})")
        else:
            lines.append(f"  {row['width']:>5} px {kind:<6} peak RSS {row['peak_rss'] / 2**30:5.2f} GiB "
                         f"(+{row['above_model'] / 2**30:5.2f} over the built decoder), "
                         f"{row['seconds']:6.1f} s")
    if "seams" in report:
        s = report["seams"]
        lines.append(f"tiles vs whole ({s['size']} px, tiles {s['tile']} px): max {s['max']:.1f} "
                     f"levels, mean {s['mean']:.2f}, seam score {s['seam']:+.2f} (0 is invisible)")
    if "passes" in report:
        p = report["passes"]
        w = p.get("width", 512)
        lines.append(f"hires {w} -> {2 * w}, SD 1.4 random weights ({p['steps']} + {p['hires_steps']} "
                     f"steps): building the networks {p.get('loading', 0.0):.1f} s (both sizes, not "
                     f"counted below), first pass {p['first_pass']:.1f} s, upscale {p['upscale']:.1f} s, "
                     f"second pass {p['second_pass']:.1f} s ({p['second_share']:.0%} of the job)")
    if "demo" in report:
        d = report["demo"]
        lines.append(f"demo model, {d['captions']} held-out captions, 128 -> 256 ({d['upscaler']}, "
                     f"denoise {d['denoise']}); the demo diffuses pixels (no VAE), so its latent "
                     "upscale is a pixel resize:")
        lines.append(f"  position and colour kept: hires {d['hires_kept']:.0%}, plain resize "
                     f"{d['plain_kept']:.0%}; sharpness (variance of the Laplacian): hires "
                     f"{d['hires_sharpness']:.2f}, plain {d['plain_sharpness']:.2f}")
    return "\n".join(lines)


def seams_on_sd(size: int = 1024, progress: Progress = lambda m: None) -> dict:
    """Tiles against the whole on one smooth random latent, SD 1.4's decoder, random weights."""
    from keras_cv.src.models.stable_diffusion.decoder import Decoder

    from engine.hires.upscale import resize_latent
    progress(f"tiles vs whole at {size}")
    side = size // 8
    rough = np.random.default_rng(3).normal(size=(1, side // 4, side // 4, 4)).astype(np.float32)
    latent = resize_latent(rough, side, side, "Latent (bicubic)")
    whole_decoder = Decoder(size, size, download_weights=False)
    tile_decoder = Decoder(BENCH_TILE * 8, BENCH_TILE * 8, download_weights=False)
    tile_decoder.set_weights(whole_decoder.get_weights())
    def to_levels(x):
        return np.clip((np.asarray(x) + 1) * 127.5, 0, 255).astype(np.uint8)
    whole = to_levels(whole_decoder.predict_on_batch(latent))
    tiles = to_levels(tiled_vae.tiled(latent, tile_decoder.predict_on_batch, BENCH_TILE,
                                      BENCH_OVERLAP, up=8))
    return {"size": size, "tile": BENCH_TILE * 8,
            **tile_differences(whole, tiles, BENCH_TILE * 8, BENCH_OVERLAP * 8)}


def run_all(progress: Progress = lambda m: None, widths=DECODE_WIDTHS,
            show: Callable[[dict], None] = lambda part: None) -> dict:
    """Every figure above; each part is shown (`show`) as soon as it is measured, so a run
    stopped part-way still says what it found. The slow parts last."""
    report: dict = {}
    for name, measure in (("demo", lambda: demo_comparison(progress=progress)),
                          ("passes", lambda: pass_times(progress=progress)),
                          ("seams", lambda: seams_on_sd(progress=progress)),
                          ("decode", lambda: decode_memory(widths, progress=progress))):
        report[name] = measure()
        show({name: report[name]})
    return report


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--decode-child"]:
        print(json.dumps(_child_decode(int(argv[1]), argv[2] == "tiled")))
        return 0
    def progress(message: str) -> None:
        print(f"  {message}", file=sys.stderr, flush=True)
    report = run_all(progress, show=lambda part: print(render(part), flush=True))
    if argv[:1] == ["--json"]:
        with open(argv[1], "w", encoding="utf-8") as handle:
            json.dump(report, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
