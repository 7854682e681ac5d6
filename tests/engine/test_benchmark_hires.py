"""The hires benchmark's measures on made-up pictures: tile edges, the differences and seam
score tiling adds, edge sharpness, and the printed report."""
from __future__ import annotations

import numpy as np

from engine.benchmark.hires import render, sharpness, tile_differences, tile_edges


def test_tile_edges_are_where_tiles_start_and_end_inside_the_image():
    assert tile_edges(256, 128, 64) == (64, 128, 192)
    assert tile_edges(128, 128, 64) == ()


def test_a_step_at_a_tile_edge_scores_and_a_copy_does_not():
    rng = np.random.default_rng(0)
    whole = rng.integers(100, 110, (1, 256, 256, 3)).astype(np.uint8)
    assert tile_differences(whole, whole.copy(), 128, 64) == {"max": 0.0, "mean": 0.0, "seam": 0.0}
    stepped = whole.copy()
    stepped[:, :, 128:] += 40  # a tile 40 levels brighter, pasted without a blend
    figures = tile_differences(whole, stepped, 128, 64)
    assert figures["max"] == 40 and figures["seam"] > 0.5
    ramped = whole.astype(float)
    ramped[:, :, 64:192] += np.linspace(0, 40, 128)[None, None, :, None]
    ramped[:, :, 192:] += 40
    assert tile_differences(whole, ramped.astype(np.uint8), 128, 64)["seam"] < figures["seam"]


def test_sharp_edges_measure_sharper_than_blurred_ones():
    sharp = np.zeros((1, 64, 64, 3), np.uint8)
    sharp[:, :, 32:] = 255
    soft = sharp.astype(float)
    soft[:, :, 28:36] = np.linspace(0, 255, 8)[None, None, :, None]
    assert sharpness(sharp) > sharpness(soft.astype(np.uint8))


def test_the_report_prints_every_figure_it_has():
    text = render({
        "decode": [{"width": 512, "tiled": False, "peak_rss": 2 * 2**30, "above_model": 2**30,
                    "seconds": 3.0},
                   {"width": 2048, "tiled": False, "skipped": "does not fit"}],
        "seams": {"size": 1024, "tile": 512, "max": 90.0, "mean": 4.0, "seam": 0.2},
        "passes": {"first_pass": 10.0, "upscale": 1.0, "second_pass": 30.0, "second_share": 0.73,
                   "steps": 2, "hires_steps": 2},
        "demo": {"captions": 10, "upscaler": "Lanczos", "denoise": 0.5, "hires_kept": 0.9,
                 "plain_kept": 0.9, "hires_sharpness": 5.0, "plain_sharpness": 4.0},
    })
    for words in ("2.00 GiB", "not run (does not fit)", "seam score +0.20", "73% of the job",
                  "hires 90%", "no VAE"):
        assert words in text
