"""engine/runtime_log.py, from source: fast, no build needed."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.bounds import CHILD_S

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(os.name == "nt", reason="closes descriptors the POSIX way")

CHILD = r"""
import os, sys
from engine.runtime_log import route_missing_streams
where = route_missing_streams()
print("to stdout", where)
print("to stderr", file=sys.stderr)
os.write(2, b"native write to fd 2\n")  # what TensorFlow's C++ logging does
sys.stdout.write("\r1/2 [====>....]")  # how Keras' progress bar writes
sys.stdout.flush()
raise SystemExit(3)
"""


def run_child(tmp_path: Path, close: tuple[int, ...]) -> subprocess.CompletedProcess:
    env = dict(os.environ, SD_DESK_DATA_DIR=str(tmp_path / "data"), PYTHONPATH=str(ROOT),
               TF_CPP_MIN_LOG_LEVEL="2")

    def close_fds() -> None:
        for fd in close:
            os.close(fd)

    return subprocess.run([sys.executable, "-c", CHILD], env=env, cwd=ROOT, timeout=CHILD_S,
                          stdin=subprocess.DEVNULL, preexec_fn=close_fds,
                          capture_output=not close)


def test_missing_streams_go_to_the_log_in_the_data_dir(tmp_path):
    result = run_child(tmp_path, close=(1, 2))
    log = tmp_path / "data" / "logs" / "sd-desk.log"
    assert result.returncode == 3
    text = log.read_text()
    assert "--- SD Desk started" in text
    assert f"to stdout {log}" in text
    assert "to stderr" in text
    assert "native write to fd 2" in text


def test_a_console_launch_keeps_its_console_and_writes_no_log(tmp_path):
    result = run_child(tmp_path, close=())
    assert result.returncode == 3
    assert b"to stdout None" in result.stdout
    assert b"native write to fd 2" in result.stderr
    assert not (tmp_path / "data").exists()


def test_a_big_log_is_rotated(tmp_path):
    log = tmp_path / "data" / "logs" / "sd-desk.log"
    log.parent.mkdir(parents=True)
    log.write_bytes(b"x" * (3 * 1024 * 1024))
    run_child(tmp_path, close=(1, 2))
    assert (log.parent / "sd-desk.log.1").stat().st_size == 3 * 1024 * 1024
    assert log.stat().st_size < 1024 * 1024
