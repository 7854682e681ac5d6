"""The prepared GPU benchmark (engine/benchmark/gpu.py): its arithmetic, its table, and
one tiny end-to-end run on this CPU. Timings are printed by the script, never asserted."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.benchmark import gpu
from engine.compute import selection

ROOT = Path(__file__).resolve().parents[2]
NO_TENSORFLOW = Path(__file__).resolve().parent / "no_tensorflow"


def test_the_peak_rate_comes_from_the_device_name():
    assert gpu.peak_tflops("GPU: NVIDIA H200", mixed=True) == 989.0
    assert gpu.peak_tflops("cuda:0 NVIDIA H100 PCIe", mixed=False) == 378.0
    assert gpu.peak_tflops("CPU", mixed=True) is None
    assert gpu.peak_tflops("CPU", mixed=True, override=2.5) == 2.5


def test_the_flop_floor_scales_with_batch_and_pixels():
    # 2 passes x 0.8 TFLOP at 512x512 batch 1 = 1.6 TFLOP a step; at 100 TFLOP/s, 16 ms.
    assert gpu.floor_fraction(0.016, 1, 512, 100.0) == pytest.approx(1.0)
    assert gpu.floor_fraction(0.160, 3, 512, 100.0) == pytest.approx(0.3)
    assert gpu.floor_fraction(0.016, 1, 256, 100.0) == pytest.approx(0.25)
    assert gpu.floor_fraction(None, 1, 512, 100.0) is None
    assert gpu.floor_fraction(0.1, 1, 512, None) is None


def test_the_table_names_every_column_and_a_failed_backend():
    rows = [{"backend": "jax", "precision": "mixed", "xla": True, "batch": 3, "row": "default",
             "size": 512, "steps": 50, "cold_s": 41.0, "total_s": 5.0, "s_per_step": 0.08,
             "images_per_s": 0.6, "device": "GPU: NVIDIA H200", "peak_gpu_bytes": 6 * 2**30,
             "peak_rss_bytes": 3 * 2**30 + 2**29},
            gpu._failed("torch", "float32", "exit 1 after 3 s: CUDA out of memory")]
    text = gpu.render(rows, None)
    header, _, jax_row, torch_row = text.splitlines()
    for column in ("s/step", "total s", "images/s", "peak RSS MiB", "peak GPU MiB", "FLOP floor",
                   "assumed peak TFLOP/s"):
        assert column in header
    assert "3,584" in jax_row and "6,144" in jax_row and "989" in jax_row
    assert f"{100 * 1.6 * 3 / 989 / 0.08:.1f}%" in jax_row
    assert "failed: exit 1 after 3 s: CUDA out of memory" in torch_row


def test_an_uninstalled_backend_is_refused_with_one_message(capsys):
    missing = next((n for n in selection.BACKENDS if not selection.is_installed(n)), None)
    if missing is None:
        pytest.skip("every backend is installed here")
    assert gpu.main(["--backends", missing]) == 2
    assert f"{missing} is not installed here" in capsys.readouterr().err


@pytest.mark.skipif(not selection.is_installed("jax"), reason="JAX is not installed")
@pytest.mark.timeout(1500)
@pytest.mark.slow  # builds Stable Diffusion in its own process
def test_a_tiny_run_on_jax_without_tensorflow(tmp_path):
    """The script as the GPU machine runs it (a process per backend, TensorFlow
    absent in it), at 128x128 and 2 steps; the lever rows run the same calls."""
    out = tmp_path / "gpu.json"
    code = ("import sys\n"
            "from engine.benchmark import gpu\n"
            f"sys.exit(gpu.main(['--size', '128', '--steps', '2', '--batches', '1',"
            f" '--backends', 'jax', '--precisions', 'float32', '--peak-tflops', '1', '--no-levers',"
            f" '--json', {str(out)!r}]))\n")
    # The children are plain `python -m engine.benchmark.gpu`; TensorFlow is absent there too.
    env = dict(os.environ, PYTHONPATH=f"{NO_TENSORFLOW}{os.pathsep}{ROOT}")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=1400)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = json.loads(out.read_text())["rows"]
    assert [r["row"] for r in rows] == ["default"]
    for r in rows:
        assert (r["backend"], r["precision"], r["batch"], r["size"]) == ("jax", "float32", 1, 128)
        assert r["s_per_step"] > 0 and r["total_s"] > 0 and r["device"] == "CPU"
        assert r["peak_rss_bytes"] > 2**30  # SD 1.4's weights alone are over 3 GB
    assert "FLOP floor" in done.stdout and "jax" in done.stdout


def test_a_failed_child_is_reported_by_its_exception_line():
    output = ("Traceback (most recent call last):\n  File \"x.py\", line 1\n"
              "ValueError: Exception encountered when calling Functional.call().\n\n"
              "Arguments received by Functional.call():\n  \u2022 training=False\n  \u2022 mask=None\n")
    assert gpu._error_line(output).startswith("ValueError: Exception encountered")
    assert gpu._error_line("just this\n") == "just this"
