"""The suite's own scheduling under xdist (tests/conftest.py): a file's tests stay on one
worker, so a module fixture is built once, as a heavy session fixture is."""
import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FILES = ("tests/engine/test_eta.py", "tests/engine/test_layering.py", "tests/engine/test_noise.py")


def test_each_file_runs_on_one_worker(tmp_path):
    pytest.importorskip("xdist")
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "2", "-v",
                           "--basetemp", str(tmp_path / "base"), *FILES],
                          cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    workers = defaultdict(set)
    for worker, path in re.findall(r"\[(gw\d+)\] \[ *\d+%\] PASSED (\S+?)::", done.stdout):
        workers[path].add(worker)
    assert set(workers) == set(FILES)
    assert all(len(seen) == 1 for seen in workers.values()), dict(workers)
    # Both workers had work: the files were spread, not all sent to one.
    assert len(set().union(*workers.values())) == 2
