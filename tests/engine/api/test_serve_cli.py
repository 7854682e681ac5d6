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
