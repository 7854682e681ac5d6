"""uvicorn on a thread of its own, started and stopped by its owner (the `serve` command,
the window's API switch, tests), and the safety rule for where it may listen."""
from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Optional

from engine.api.security import is_loopback

log = logging.getLogger(__name__)


class ListenRefused(ValueError):
    """An address the server will not listen on as asked, worded for the person."""


CLI_REMEDY = ("Give --api-auth USER:PASS, or add --listen-anywhere if this network is "
              "yours alone.")


def listen_problem(host: str, has_auth: bool, listen_anywhere: bool,
                   remedy: str = CLI_REMEDY) -> Optional[str]:
    """Why the server must not listen on `host` as asked (None: it may). Beyond this
    machine, anyone who reaches the port could queue jobs and read every image the API
    returns, so another address needs a password, or the explicit choice to go without."""
    if is_loopback(host) or has_auth or listen_anywhere:
        return None
    return f"Serving on {host} lets other machines use SD Desk without a password. {remedy}"


class ApiServer:
    """`start()` returns once the port is bound (or raises OSError with the reason, such as
    the port being in use); `stop()` closes it and waits for the thread."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 7860,
                 log_level: str = "warning") -> None:
        import uvicorn
        self.host = host
        self.config = uvicorn.Config(app, host=host, port=port, log_level=log_level,
                                     access_log=False, lifespan="off", timeout_graceful_shutdown=5)
        self.server = uvicorn.Server(self.config)
        self._thread: Optional[threading.Thread] = None
        self._socket: Optional[socket.socket] = None
        # Set when uvicorn has returned. Not Thread.is_alive: a join interrupted by Ctrl+C
        # leaves the thread reading as stopped while it still runs (Python 3.11).
        self._finished = threading.Event()

    @property
    def port(self) -> int:
        return self._socket.getsockname()[1] if self._socket else self.config.port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self, timeout: float = 15.0) -> "ApiServer":
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # IPPROTO_TCP named: asyncio turns Nagle off (TCP_NODELAY) only on sockets that say
        # they are TCP, and without that a keep-alive client waits 40 ms for each answer's
        # second segment (a delayed ACK), measured here.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.config.port))
        except OSError:
            sock.close()
            raise
        self._socket = sock
        self._finished.clear()

        def serve() -> None:
            try:
                self.server.run(sockets=[sock])
            finally:
                self._finished.set()
        self._thread = threading.Thread(target=serve, name="api-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started and not self._finished.is_set() and time.monotonic() < deadline:
            time.sleep(0.02)
        if not self.server.started:
            self.stop()
            raise OSError(f"The API server did not start on {self.url}.")
        return self

    def wait(self, timeout: Optional[float] = None) -> bool:
        """True once the server has stopped (within `timeout` seconds)."""
        return self._thread is None or self._finished.wait(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._finished.wait(timeout)  # uvicorn closes the socket itself as it stops
        if self._socket is not None and self._finished.is_set():
            self._socket.close()
            self._socket = None
