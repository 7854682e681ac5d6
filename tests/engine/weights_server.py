"""A real HTTP server on 127.0.0.1 serving generated weight files, and fixtures around it.

The server can drop a connection part-way, ignore Range, answer an error
status or send altered bytes: the situations a download meets in the wild.
A guard makes any connection to a non-loopback address fail the test.
"""
from __future__ import annotations

import hashlib
import random
import socket
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Optional

import pytest

from engine.models.registry import ModelSpec, WeightFile

LOOPBACK = {"127.0.0.1", "::1", "localhost"}


@dataclass
class Behaviour:
    range_support: bool = True
    # name -> bytes of body to send before dropping the connection (applies once)
    cut_after: dict[str, int] = field(default_factory=dict)
    # name -> status code to answer instead of the file
    status: dict[str, int] = field(default_factory=dict)
    # name -> bytes served instead of the real content
    replace: dict[str, bytes] = field(default_factory=dict)
    # names answered with a redirect to /cdn/<name>, as Hugging Face sends files to its CDN
    redirect: set[str] = field(default_factory=set)


class WeightsServer:
    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.behaviour = Behaviour()
        self.requests: list[tuple[str, Optional[str], int]] = []  # (name, Range header, status)
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                server._serve(self)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, name: str) -> str:
        return f"{self.base_url}/{urllib.parse.quote(name)}"

    def names_requested(self) -> list[str]:
        return [name for name, _, _ in self.requests]

    def start(self) -> "WeightsServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        b = self.behaviour
        name = urllib.parse.unquote(h.path.lstrip("/").split("?")[0])
        range_header = h.headers.get("Range")

        def answer(code: int, body: bytes, headers: dict[str, str], send: Optional[int] = None):
            self.requests.append((name, range_header, code))
            h.send_response(code)
            for k, v in {**headers, "Content-Length": str(len(body))}.items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(body if send is None else body[:send])
            h.wfile.flush()
            if send is not None:
                h.close_connection = True
                h.connection.shutdown(socket.SHUT_RDWR)

        if name in b.redirect:
            return answer(302, b"", {"Location": f"/cdn/{urllib.parse.quote(name)}"})
        name = name[len("cdn/"):] if name.startswith("cdn/") else name
        if name in b.status:
            return answer(b.status[name], b"no such luck", {})
        if name not in self.files:
            return answer(404, b"not found", {})
        data = b.replace.get(name, self.files[name])
        code, start, headers = 200, 0, {"Content-Type": "application/octet-stream"}
        if b.range_support:
            headers["Accept-Ranges"] = "bytes"
            if range_header and range_header.startswith("bytes="):
                start = int(range_header[len("bytes="):].split("-")[0])
                if start >= len(data):
                    return answer(416, b"", {"Content-Range": f"bytes */{len(data)}"})
                code = 206
                headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        body = data[start:]
        cut = b.cut_after.pop(name, None)
        answer(code, body, headers, send=cut)


def make_spec(sizes: dict[str, int], model_id: str = "test-model", seed: int = 1,
              size_error: float = 0.9) -> tuple[ModelSpec, dict[str, bytes]]:
    """A model of generated files; manifest sizes are off on purpose, as KerasCV's estimates are."""
    rng = random.Random(seed)
    contents, files = {}, []
    for i, (name, size) in enumerate(sizes.items()):
        data = rng.randbytes(size)
        contents[name] = data
        files.append(WeightFile(
            name, f"role{i}", f"https://weights.invalid/{name}",
            hashlib.sha256(data).hexdigest(), int(size * size_error)))
    return ModelSpec(model_id, "Test model", "sd-v1", tuple(files)), contents


def write_files(folder: Path, contents: dict[str, bytes]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in contents.items():
        (folder / name).write_bytes(data)


@pytest.fixture
def loopback_only(monkeypatch):
    """Fail any attempt to reach beyond this machine: tests must never touch the internet."""
    real_connect = socket.socket.connect

    def guarded(sock, address):
        host = address[0] if isinstance(address, tuple) else address
        if sock.family in (socket.AF_INET, socket.AF_INET6) and host not in LOOPBACK:
            raise AssertionError(f"test tried to connect to {address!r}")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture
def sandbox(tmp_path, monkeypatch, loopback_only):
    """Fresh, empty Keras cache, models folder and data folder for each test."""
    dirs = {"keras": tmp_path / "keras", "models": tmp_path / "models", "data": tmp_path / "data"}
    monkeypatch.setenv("KERAS_HOME", str(dirs["keras"]))
    monkeypatch.setenv("SD_DESK_MODELS_DIR", str(dirs["models"]))
    monkeypatch.setenv("SD_DESK_DATA_DIR", str(dirs["data"]))
    dirs["keras_cache"] = dirs["keras"] / "datasets"
    return dirs


SIZES = {"enc.h5": 300_000, "unet.h5": 450_000, "vocab.txt.gz": 7_000}


@pytest.fixture
def spec_and_files():
    return make_spec(SIZES)


@pytest.fixture
def server(spec_and_files):
    srv = WeightsServer(spec_and_files[1]).start()
    yield srv
    srv.stop()
