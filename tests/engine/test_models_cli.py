"""`python main.py models ...` as a person types it (run in-process against the loopback server)."""
from __future__ import annotations

import os

import pytest

from engine.models import registry
from main import main
from tests.engine.weights_server import (  # noqa: F401  (fixtures)
    loopback_only, sandbox, server, spec_and_files, write_files)


@pytest.fixture
def registered(spec_and_files, monkeypatch):
    spec, contents = spec_and_files
    monkeypatch.setitem(registry._BY_ID, spec.id, spec)  # undone after the test
    return spec, contents


def test_list_shows_each_model_with_state_and_size(sandbox, registered, capsys):
    spec, contents = registered
    write_files(sandbox["models"], {"enc.h5": contents["enc.h5"]})
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line and not line.startswith(" ")}
    assert "missing" in lines["sd-v1.4"] and "4.3 GB" in lines["sd-v1.4"]
    assert "missing" in lines["test-model"]
    assert "enc.h5" in out and "unverified" in out and "unet.h5" in out

    assert main(["models", "list", "--verify"]) == 0
    out = capsys.readouterr().out
    enc_line = next(line for line in out.splitlines() if "enc.h5" in line)
    assert "installed" in enc_line


def test_download_with_progress_then_listed_as_installed(sandbox, registered, server, capsys):
    spec, contents = registered
    assert main(["models", "download", spec.id, "--base-url", server.base_url]) == 0
    captured = capsys.readouterr()
    assert "100.0%" in captured.err and "[" in captured.err  # the bar goes to stderr
    assert f"{spec.id}: installed" in captured.out
    for name, data in contents.items():
        assert (sandbox["models"] / name).read_bytes() == data

    main(["models"])
    line = next(l for l in capsys.readouterr().out.splitlines() if l.startswith(spec.id))
    assert "installed" in line


def test_download_failure_is_one_clear_message_and_exit_code_1(sandbox, registered, server, capsys):
    spec, _ = registered
    server.behaviour.status["unet.h5"] = 503
    assert main(["models", "download", spec.id, "--base-url", server.base_url]) == 1
    err = capsys.readouterr().err
    assert "503" in err and "try again later" in err
    assert "Traceback" not in err


def test_unknown_model_lists_the_known_ones(sandbox, capsys):
    assert main(["models", "download", "sd-v9"]) == 2
    assert "sd-v1.4" in capsys.readouterr().err


def test_import_reports_a_corrupt_file(sandbox, registered, tmp_path, capsys):
    spec, contents = registered
    usb = tmp_path / "usb"
    write_files(usb, {**contents, "vocab.txt.gz": b"garbage"})
    assert main(["models", "import", spec.id, str(usb)]) == 1
    out = capsys.readouterr().out
    assert "2 file(s) imported" in out and "Damaged" in out and "vocab.txt.gz" in out

    write_files(usb, contents)
    assert main(["models", "import", spec.id, str(usb)]) == 0
    assert "ready" in capsys.readouterr().out


def test_verify_rechecks_even_remembered_files(sandbox, registered, capsys):
    spec, contents = registered
    write_files(sandbox["models"], contents)
    assert main(["models", "verify", spec.id]) == 0
    path = sandbox["models"] / "enc.h5"
    stat = path.stat()
    damaged = bytearray(contents["enc.h5"])
    damaged[0] ^= 1
    path.write_bytes(bytes(damaged))
    # Even with size and time put back (so the cache would vouch for it), verify reads the bytes.
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    capsys.readouterr()
    assert main(["models", "verify", spec.id]) == 1
    assert "damaged" in capsys.readouterr().out
