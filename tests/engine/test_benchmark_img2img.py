"""`benchmark --img2img` on the demo model: the figures it prints are the ones it measured."""
import numpy as np
import pytest

from engine.benchmark import img2img


@pytest.fixture(scope="module")
def report():
    return img2img.demo_distances(steps=6, fill_seeds=(1,))


def test_distances_grow_with_strength_and_inpainting_keeps_its_pixels(report):
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


def test_the_inpainting_fills_are_measured_and_the_default_named(report):
    from engine.benchmark import inpaint_fills
    from engine.request import DEFAULT_INPAINT_FILL, INPAINT_FILLS
    fills = report.fills
    assert set(fills.rows) == set(INPAINT_FILLS)
    assert 0.2 < fills.ideal < 0.5  # the prompt's circle is drawn inside the mask
    for by_strength in fills.rows.values():
        assert set(by_strength) == set(inpaint_fills.STRENGTHS)
        for row in by_strength.values():
            assert row["kept_max"] == 0 and 0 <= row["red"] <= 1 and row["change"] > 0
    text = img2img.render(report)
    assert f"{DEFAULT_INPAINT_FILL} (default)" in text
    red = fills.rows[DEFAULT_INPAINT_FILL][0.75]["red"]
    assert f"{100 * red:.0f}%" in text
    saved = img2img.to_dict(report)["inpaint_fills"]
    assert saved["rows"][DEFAULT_INPAINT_FILL]["0.75"]["red"] == red


def test_the_red_share_counts_the_pixels_nearest_red():
    from engine.benchmark.inpaint_fills import red_share
    images = np.zeros((1, 4, 4, 3), np.uint8)
    images[0, :2] = (210, 50, 45)
    images[0, 2:] = (250, 250, 250)
    assert red_share(images, np.ones((4, 4), bool)) == 0.5
    assert red_share(images, np.eye(4, dtype=bool)) == 0.5


def test_the_seam_score_sees_a_hard_edge_and_not_a_smooth_one():
    smooth = np.tile(np.linspace(0, 100, 64)[None, :, None], (32, 1, 3))[None]
    hard = smooth.copy()
    hard[:, :, 32:] += 100
    assert abs(img2img.seam_score(smooth, (32,))) < 0.01
    # A 100-level jump spread over the band's 16 gaps, against over all 63 of the image's.
    assert img2img.seam_score(hard, (32,)) == pytest.approx(100 / 16 - 100 / 63)
