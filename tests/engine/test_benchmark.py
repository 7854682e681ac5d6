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


def test_sampler_convergence_benchmark_measures_table_json_and_chart(tmp_path):
    """A small run (one prompt, a 60-step reference): real measurements in every output."""
    from engine.benchmark import sampler_chart, samplers
    from engine.demo.backend import load_demo_backend

    conv = samplers.convergence(load_demo_backend(samplers.SIZE, samplers.SIZE),
                                samplers=("ddim", "dpmpp-2m-karras"), step_counts=(5, 20),
                                prompts=samplers.PROMPTS[:1], reference_steps=60)
    for sampler in ("ddim", "dpmpp-2m-karras"):
        assert conv.errors[sampler][5] > conv.errors[sampler][20] > 0
        assert all(s > 0 for s in conv.seconds[sampler].values())
    table = samplers.render(conv)
    assert "DPM++ 2M Karras" in table and f"{conv.errors['ddim'][5]:.2f}" in table
    data = samplers.to_dict(conv)
    assert data["errors"]["ddim"][20] == conv.errors["ddim"][20]
    assert data["fewest_steps_within"]["ddim"] == conv.fewest_steps("ddim")
    path = sampler_chart.save(conv, tmp_path / "chart.png")
    from PIL import Image
    with Image.open(path) as image:
        assert image.size == (sampler_chart.WIDTH, sampler_chart.HEIGHT)
        assert len(set(image.convert("RGB").getdata())) > 3  # lines drawn, not a blank page
