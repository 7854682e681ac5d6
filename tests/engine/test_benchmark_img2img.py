"""`benchmark --img2img` on the demo model: the figures it prints are the ones it measured."""
import numpy as np
import pytest

from engine.benchmark import img2img


def test_distances_grow_with_strength_and_inpainting_keeps_its_pixels():
    report = img2img.demo_distances(steps=6)
    distances = list(report.strength_distance.values())
    assert distances[0] == 0.0  # strength 0 is the source itself
    assert all(a < b for a, b in zip(distances, distances[1:]))
    assert report.inpaint["kept_max"] <= 2 < report.inpaint["repainted_mean"]
    assert set(report.outpaint) == {"edge", "noise"}
    for row in report.outpaint.values():
        assert row["kept_max"] <= 2
    text = img2img.render(report)
    assert "6 steps" in text and f"{distances[-1]:8.1f}" in text
    assert "edge fill (default)" in text
    assert img2img.to_dict(report)["strength_distance"]["1.0"] == distances[-1]


def test_the_seam_score_sees_a_hard_edge_and_not_a_smooth_one():
    smooth = np.tile(np.linspace(0, 100, 64)[None, :, None], (32, 1, 3))[None]
    hard = smooth.copy()
    hard[:, :, 32:] += 100
    assert abs(img2img.seam_score(smooth, (32,))) < 0.01
    # A 100-level jump spread over the band's 16 gaps, against over all 63 of the image's.
    assert img2img.seam_score(hard, (32,)) == pytest.approx(100 / 16 - 100 / 63)
