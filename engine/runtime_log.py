"""Give stdout and stderr somewhere to go when the process started without them.

A windowed build (PyInstaller's `console=False` on Windows, an app bundle opened
from the macOS Finder) and any launch with the standard descriptors closed start
Python with `sys.stdout` and/or `sys.stderr` set to None. Keras' progress bar,
`print`, `warnings` and tracebacks then crash or vanish. `route_missing_streams()`
points the missing ones at a log file in the user's data directory, so a crash in
a double-clicked app leaves a trace the user can send us.

Must run before anything imports Keras or TensorFlow (main.py calls it first):
both look at the streams, and TensorFlow's C++ logging writes to descriptor 2
directly, so that descriptor is filled in as well.
"""
from __future__ import annotations

import faulthandler
import io
import os
import sys
import time
from pathlib import Path
from typing import Optional, TextIO

from engine.locations import app_data_dir

LOG_NAME = "sd-desk.log"
# One previous log is kept as sd-desk.log.1; together they stay small.
MAX_BYTES = 2 * 1024 * 1024


def log_path() -> Path:
    return app_data_dir() / "logs" / LOG_NAME


def _fd_is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False


def _open_log(path: Path) -> TextIO:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        if path.stat().st_size > MAX_BYTES:
            os.replace(path, path.with_name(path.name + ".1"))
    except FileNotFoundError:
        pass
    # Line-buffered so the last lines before a hard crash are on disk.
    return open(path, "a", encoding="utf-8", errors="backslashreplace", buffering=1)


def route_missing_streams(path: Optional[Path] = None) -> Optional[Path]:
    """Sends a missing sys.stdout/sys.stderr to the log file; returns its path, or None
    when both streams exist (a console launch keeps its console)."""
    missing_out, missing_err = sys.stdout is None, sys.stderr is None
    if not (missing_out or missing_err):
        return None
    path = path or log_path()
    try:
        log = _open_log(path)
    except OSError:
        # No writable data directory: a stream that swallows everything still beats a crash.
        log = io.StringIO()
        path = None
    # Native code (TensorFlow's C++ logging, Qt's warnings) writes to the descriptors,
    # not to sys.stderr; where they are closed, give them the log too.
    if path is not None:
        for fd, missing in ((1, missing_out), (2, missing_err)):
            if missing and not _fd_is_open(fd):
                try:
                    os.dup2(log.fileno(), fd)
                except OSError:
                    pass
    if missing_out:
        sys.stdout = log
    if missing_err:
        sys.stderr = log
        if path is not None:
            # A segfault in native code then still leaves a Python traceback in the log.
            faulthandler.enable(log)
    log.write(f"\n--- SD Desk started {time.strftime('%Y-%m-%d %H:%M:%S')} "
              f"(pid {os.getpid()}, {' '.join(sys.argv[1:]) or 'window'}) ---\n")
    return path
