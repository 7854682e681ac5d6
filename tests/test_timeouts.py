"""The suite measures the code, not the machine: a slow fixture setup (a busy machine
building Stable Diffusion's weights) is not cut by the per-test timeout, which bounds the
test function; a setup that hangs is still ended, by a bound of its own."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

INNER = """
import time
import pytest

@pytest.fixture(scope="session")
def slow_setup():
    time.sleep(2.5)  # a weights build on a busy machine, in miniature
    yield

def test_after_a_slow_fixture(slow_setup):
    pass

def test_a_slow_body():
    time.sleep(2.5)
"""

HUNG = """
import time
import pytest

@pytest.fixture
def hung_setup():
    time.sleep(120)

def test_never_reached(hung_setup):
    pass
"""


def run_inner(tmp_path, source, **env):
    (tmp_path / "test_inner.py").write_text(source)
    # The project's own configuration (pyproject.toml), one process, with the bound's plugin
    # as tests/conftest.py loads it.
    return subprocess.run([sys.executable, "-m", "pytest", "-c", str(ROOT / "pyproject.toml"),
                           "--rootdir", str(tmp_path), "-n", "0", "-p", "no:cacheprovider",
                           "-p", "tests.fixture_bound", "--timeout", "1", "-rA",
                           str(tmp_path / "test_inner.py")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, PYTHONPATH=str(ROOT), **env))


def test_the_per_test_timeout_bounds_the_function_not_the_fixtures(tmp_path):
    done = run_inner(tmp_path, INNER)
    out = done.stdout + done.stderr
    assert "PASSED test_inner.py::test_after_a_slow_fixture" in out, out[-3000:]
    assert "FAILED test_inner.py::test_a_slow_body" in out and "Timeout" in out, out[-3000:]


def test_a_hung_fixture_setup_is_ended_by_its_own_bound(tmp_path):
    done = run_inner(tmp_path, HUNG, SD_DESK_FIXTURE_TIMEOUT_S="1")
    assert done.returncode != 0
    assert "Setting up the fixture 'hung_setup' took more than 1 s" in done.stderr, done.stderr[-3000:]
    assert "time.sleep" in done.stderr or "test_inner.py" in done.stderr  # the stacks


def test_the_suite_loads_the_bound():
    import tests.conftest
    import tests.fixture_bound
    assert tests.conftest.pytest_fixture_setup is tests.fixture_bound.pytest_fixture_setup
