"""Work on threads of their own where only the newest piece counts: a person who opens an
image, then another before the first is read, sees only the second.

Used by the source panel, whose images take seconds to read, check and store.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

from PySide6.QtCore import QObject, Signal

from gui.tasks import Task, on_own_thread


class NewestWork(QObject):
    """`start` runs a piece of work on a thread of its own; when it ends, and no newer piece
    has started meanwhile, `done(result)` or `failed(message)` runs on the GUI thread, then
    `settled` is emitted. A result that is an exception counts as a failure: the work returns
    what it could not do rather than raising, so each caller words its own messages."""

    settled = Signal()

    def __init__(self, thread_name: str, parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self.thread_name = thread_name
        self.busy_text = ""  # what the newest work is doing; empty when there is none
        self._ticket = 0
        self._handlers: tuple[int, Callable[[Any], None], Callable[[str], None]] = \
            (0, lambda _result: None, lambda _message: None)
        # Callers waiting on a piece of work: told when a newer one replaces it.
        self._waiting: dict[int, Callable[[], None]] = {}
        self._threads: list[tuple[Any, Task]] = []

    @property
    def busy(self) -> bool:
        return bool(self.busy_text)

    def start(self, busy_text: str, work: Callable[[], Any], done: Callable[[Any], None],
              failed: Callable[[str], None], replaced: Optional[Callable[[], None]] = None) -> None:
        """`replaced` is called instead of either when newer work (or `drop`) comes first."""
        self._ticket += 1
        ticket = self._ticket
        self._release_waiting()
        if replaced is not None:
            self._waiting[ticket] = replaced
        self.busy_text = busy_text
        self._handlers = (ticket, done, failed)
        task = Task()
        task.finished.connect(self._finished)
        self._threads = [(t, k) for t, k in self._threads if not t.isFinished()]
        self._threads.append((on_own_thread(task, self.thread_name,
                                            lambda _progress, _cancel: (ticket, work())), task))

    def drop(self) -> None:
        """Nothing under way is delivered any more."""
        self._ticket += 1
        self._release_waiting()
        self.busy_text = ""

    def shutdown(self, timeout_ms: int = 30_000) -> None:
        """For closing the window: what is running finishes, and nothing is delivered of it."""
        self._ticket += 1
        for thread, _task in self._threads:
            thread.wait(timeout_ms)
        self._threads.clear()

    def _finished(self, payload) -> None:
        ticket, result = payload
        if ticket != self._ticket:
            return
        self._waiting.pop(ticket, None)
        _, done, failed = self._handlers
        self.busy_text = ""
        if isinstance(result, Exception):
            failed(str(result))
        else:
            done(result)
        self.settled.emit()

    def _release_waiting(self) -> None:
        for ticket in [t for t in self._waiting if t != self._ticket]:
            self._waiting.pop(ticket)()
