"""The benchmark runs end to end at a tiny size and writes a valid report.

Numbers are printed by `python main.py benchmark`, never asserted here: timings
on a shared machine say nothing about correctness.
"""
import json

import pytest
from PIL import Image

from tests.engine.sd_fixtures import SIZE


# Sorted first among the tests that share `sd_engine`, this test often pays for building
# it too (minutes on a busy 2-core machine), on top of its own six 1-step generations.
@pytest.mark.timeout(1500)
def test_benchmark_runs_end_to_end_and_writes_valid_json(sd_engine, tmp_path):
    from engine.benchmark import chart, report, runner
    from engine.benchmark.settings import BenchmarkSettings
    from engine.compute.selection import label

    settings = BenchmarkSettings(model="sd-v1.4", batch=1, steps=1, width=SIZE, height=SIZE,
                                 runs=1, configs=("standard",), fresh_builds=False)
    seen = []
    result = runner.run(settings, sd_engine, on_progress=seen.append)

    path = report.write_json(result, tmp_path / "bench.json")
    data = json.loads(path.read_text())
    assert data["settings"]["steps"] == 1 and data["settings"]["configs"] == ["standard"]
    assert data["machine"]["device"] and data["versions"]["keras_cv"] == "0.9.0"
    assert data["machine"]["backend"] == sd_engine.backend_name()
    (entry,) = data["configs"]
    assert entry["backend"] == sd_engine.backend_name()
    assert entry["config"] == "standard" and not entry["mixed_precision"] and not entry["xla"]
    assert entry["cold_s"] > 0 and entry["peak_rss_bytes"] > 0
    assert set(entry["modes"]) == {"one call of 2B", "two calls of B"}
    assert entry["ours"] == entry["modes"][entry["default_mode"]]
    for side in [entry["kerascv"], *entry["modes"].values()]:
        assert len(side["runs_s"]) == 1
        assert side["median_s"] > 0 and side["s_per_step"] > 0
    # Two calls of B reproduce KerasCV's images exactly; one call
    # of 2B stays within the tolerance the sampler tests hold it to.
    for mode, side in entry["modes"].items():
        assert side["ratio_to_kerascv"] > 0
        limit = 2 if mode == "one call of 2B" else 0
        assert side["max_pixel_difference_to_kerascv"] <= limit, mode
    for key in ("encoding", "denoising", "decoding", "preview", "model_calls"):
        assert key in entry["ours"]["timings"]

    assert seen[-1].done == seen[-1].total == runner.generations_per_config(settings)
    text = report.render(result)
    assert "standard" in text and "KerasCV" in text
    assert report.table_rows(result)[1][0][1] == label(sd_engine.backend_name())
    png = chart.save(result, tmp_path / "bench.png")
    with Image.open(png) as image:
        assert image.format == "PNG" and image.size == (chart.WIDTH, chart.HEIGHT)
