"""What a benchmark records about the machine: backend, device, versions, memory."""
import subprocess
import sys
from pathlib import Path

from engine.benchmark import report, system
from tests.bounds import CHILD_S

ROOT = Path(__file__).resolve().parents[2]


class NamedEngine:
    def backend_name(self):
        return "jax"

    def device_name(self):
        return "GPU: NVIDIA H200"


def test_the_machine_names_the_engines_backend_and_device():
    facts = system.machine(NamedEngine())
    assert (facts["backend"], facts["device"]) == ("jax", "GPU: NVIDIA H200")
    assert facts["cpu_cores"] >= 1
    assert "backend" not in system.machine()


def test_the_table_has_a_backend_column():
    side = {"median_s": 2.0, "s_per_step": 0.5}
    result = {"settings": {"compare": False},
              "configs": [{"config": "xla", "backend": "jax", "cold_s": 9.0, "ours": side,
                           "peak_rss_bytes": 2**30, "peak_gpu_bytes": 3 * 2**30}]}
    cols, rows = report.table_rows(result)
    assert cols[:2] == ["config", "backend"]
    assert rows == [["xla", "JAX", "9.0", "2.00", "0.500", "1,024", "3,072"]]


def test_versions_and_peak_memory_need_no_framework():
    """Measuring a block that ran no Keras model imports no framework to ask for GPU memory."""
    code = ("import sys; sys.modules['tensorflow'] = None\n"
            "from engine.benchmark import system\n"
            "from engine.versions import versions\n"
            "with system.PeakMemory() as memory:\n"
            "    pass\n"
            "assert memory.peak_gpu is None and memory.peak_rss > 0\n"
            "assert 'keras_cv' in versions() and 'python' in versions()\n"
            "print(sorted(m for m in ('keras', 'jax', 'torch', 'tensorflow') if sys.modules.get(m)))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=CHILD_S)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_chart_draws_a_bar_too_short_to_see():
    """A warm run of a few milliseconds beside a cold run of seconds made a bar under a
    pixel high, which Pillow refused to draw (the GUI's benchmark dialog then failed)."""
    from engine.benchmark import chart
    result = {"settings": {"model": "demo", "batch": 1, "steps": 3, "width": 64, "height": 64},
              "machine": {"device": "CPU"}, "random_weights": False,
              "configs": [{"config": "standard", "cold_s": 5.0, "ours": {"median_s": 0.001}},
                          {"config": "mixed", "cold_s": 0.0, "ours": {"median_s": 0.0}}]}
    image = chart.draw(result)
    assert image.size == (chart.WIDTH, chart.HEIGHT)
