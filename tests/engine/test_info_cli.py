"""`python main.py info`: versions, the backend and why, device, folders; fast and TensorFlow-free."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.commands import info
from engine.compute import nvidia_smi, selection
from tests.bounds import CHILD_S

ROOT = Path(__file__).resolve().parents[2]
# Makes `import tensorflow` fail in the child, as on a machine without it.
NO_TENSORFLOW = "import sys; sys.modules['tensorflow'] = None\n"
FRAMEWORKS = ("keras", "tensorflow", "jax", "torch")


def run_info(*args, backend="jax", prelude=NO_TENSORFLOW, timeout=CHILD_S):
    code = (prelude + f"import runpy, sys\nFRAMEWORKS = {FRAMEWORKS!r}\n"
            f"sys.argv = ['main.py', 'info', *{list(args)!r}]\n"
            "try:\n    runpy.run_path('main.py', run_name='__main__')\n"
            "finally:\n    print('IMPORTED', sorted(m for m in FRAMEWORKS if sys.modules.get(m)),"
            " file=sys.stderr)\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT), KERAS_BACKEND=backend)
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_static_facts_name_versions_backend_and_folders(monkeypatch):
    monkeypatch.setattr(selection, "_applied", selection.Choice("jax", "KERAS_BACKEND", "why"))
    facts = info.static_facts()
    assert facts["versions"]["python"] == ".".join(map(str, sys.version_info[:3]))
    assert {"keras", "keras_cv"} <= set(facts["versions"])
    assert facts["backend"] == {"name": "jax", "source": "KERAS_BACKEND", "reason": "why",
                                "notes": []}
    assert set(facts["backends"]) == set(selection.BACKENDS)
    for name, entry in facts["backends"].items():
        assert entry["installed"] == selection.is_installed(name)
        assert (entry["install"] is None) == entry["installed"]
    assert facts["folders"]["data"] == os.environ["SD_DESK_DATA_DIR"]
    assert facts["folders"]["weights"][0] == str(Path(os.environ["KERAS_HOME"]) / "datasets")
    text = info.render_static(facts)
    assert "JAX (why)" in text and os.environ["SD_DESK_DATA_DIR"] in text


def test_an_nvidia_gpu_is_listed_with_its_memory(monkeypatch):
    monkeypatch.setattr(nvidia_smi, "nvidia_gpus", lambda: nvidia_smi.parse(
        "NVIDIA H200, 143771, 580.65.06\nTesla T4, [N/A], 535.1\n"))
    facts = info.static_facts()
    assert facts["nvidia_gpus"][0] == {"name": "NVIDIA H200", "memory_bytes": 143771 * 2**20,
                                       "driver": "580.65.06"}
    text = info.render_static(facts)
    assert "GPU:       NVIDIA H200, 140.4 GiB (NVIDIA driver 580.65.06)" in text
    assert "Tesla T4, ? (NVIDIA driver 535.1)" in text


def test_nvidia_smi_missing_means_no_gpu(monkeypatch):
    monkeypatch.setattr(nvidia_smi.shutil, "which", lambda name: None)
    assert nvidia_smi.nvidia_gpus() == []


def test_a_broken_backend_is_reported_not_raised(monkeypatch):
    import engine.compute as compute

    def broken():
        raise ImportError("libcudnn.so.9: cannot open shared object file")

    monkeypatch.setattr(compute, "current", broken, raising=False)
    facts = info.device_facts()
    assert facts["device"] is None and "libcudnn" in facts["error"]
    assert "unavailable (ImportError: libcudnn" in info.render_device(facts)


def test_info_answers_without_tensorflow_and_imports_no_framework():
    done = run_info("--no-device", "--json")
    assert done.returncode == 0, done.stderr
    facts = json.loads(done.stdout)
    assert facts["backend"]["name"] == "jax" and facts["backend"]["source"] == "KERAS_BACKEND"
    assert facts["backends"]["tensorflow"]["installed"] is False
    assert "device" not in facts
    assert "IMPORTED []" in done.stderr  # nothing slow was loaded
    assert "Traceback" not in done.stderr


@pytest.mark.skipif(not selection.is_installed("jax"), reason="JAX is not installed")
def test_info_names_the_device_on_jax_without_tensorflow():
    done = run_info()
    assert done.returncode == 0, done.stderr
    assert "Backend:   JAX (KERAS_BACKEND=jax in the environment)" in done.stdout
    assert "Device:    CPU" in done.stdout
    assert "Traceback" not in done.stderr
