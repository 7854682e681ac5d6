"""`main.py serve`'s refusals, before anything listens."""
from __future__ import annotations

import socket

import pytest

from main import build_parser


def serve(capsys, *args):
    parsed = build_parser().parse_args(["serve", *args])
    code = parsed.func(parsed)
    return code, capsys.readouterr().err


def test_another_address_needs_a_password_or_the_explicit_flag(capsys):
    code, err = serve(capsys, "--host", "0.0.0.0")
    assert code == 2 and "--api-auth" in err and "--listen-anywhere" in err


def test_a_malformed_password_is_one_sentence(capsys):
    code, err = serve(capsys, "--api-auth", "justaname")
    assert code == 2 and err.startswith("error: --api-auth takes USER:PASS")


def test_an_unknown_model_names_the_ones_there_are(capsys):
    code, err = serve(capsys, "--model", "nope")
    assert code == 2 and "demo" in err


def test_a_port_in_use_is_said(capsys, tmp_path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        code, err = serve(capsys, "--port", str(taken.getsockname()[1]), "--history-dir", str(tmp_path))
    finally:
        taken.close()
    assert code == 2 and "Cannot listen on 127.0.0.1" in err and "Traceback" not in err


@pytest.mark.skipif(not hasattr(__import__("signal"), "SIGTERM") or __import__("os").name != "posix",
                    reason="POSIX signals")
def test_a_stop_signal_closes_the_server_cleanly(tmp_path):
    """SIGTERM (a service manager's stop) once left uvicorn's thread closing a socket already
    closed under it: a traceback on stderr and a server that did not finish its shutdown."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import httpx
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    repo = __import__("pathlib").Path(__file__).resolve().parents[3]
    process = subprocess.Popen([sys.executable, "main.py", "serve", "--port", str(port),
                                "--history-dir", str(tmp_path)], cwd=repo,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/sdapi/v1/samplers").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0
    assert "Stopping." in err and "Traceback" not in err
