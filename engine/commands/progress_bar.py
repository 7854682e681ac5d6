"""The progress line every command draws on stderr."""
from __future__ import annotations

import time
from typing import TextIO

BAR_WIDTH = 28


class ProgressBar:
    """One line redrawn in place on a terminal; occasional plain lines when stderr is a file."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self._last = 0.0
        self._last_decile = -1
        self._width = 0

    def show(self, fraction: float, text: str) -> None:
        fraction = min(max(fraction, 0.0), 1.0)
        filled = int(fraction * BAR_WIDTH)
        line = f"[{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {fraction * 100:5.1f}%  {text}"
        if self.tty:
            now = time.monotonic()
            if now - self._last < 0.1 and fraction < 1.0:
                return
            self._last = now
            self.stream.write("\r" + line.ljust(self._width))
            self._width = len(line)
        else:
            decile = int(fraction * 10)
            if decile == self._last_decile:
                return
            self._last_decile = decile
            self.stream.write(line + "\n")
        self.stream.flush()

    def clear(self) -> None:
        if self.tty and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
        self._width = 0
        self._last_decile = -1
