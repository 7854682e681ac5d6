"""The one pattern for work the window hands to another thread (downloads, imports, the benchmark).

A Task is a QObject living on the thread that does the work; `run(work)` calls
`work(on_progress, cancel)` there and reports through four signals carrying
plain data: progress, finished (the result), failed (a message), cancelled.
Cancel is a CancelToken the work polls, as generations do.
"""
from __future__ import annotations

import logging
import traceback
from typing import Any, Callable, Optional

from PySide6.QtCore import QObject, QThread, Qt, Signal, Slot

from engine.events import CancelToken
from gui.threads import managed_thread

log = logging.getLogger(__name__)

Work = Callable[[Callable[[Any], None], CancelToken], Any]


class Task(QObject):
    """`cancelled_by`: the exceptions that mean the work stopped because it was asked to."""

    progress = Signal(object)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    _run = Signal(object)

    def __init__(self, cancelled_by: tuple[type[BaseException], ...] = ()) -> None:
        super().__init__()
        self.token = CancelToken()
        self._cancelled_by = cancelled_by
        self._own_thread: Optional[QThread] = None
        self._run.connect(self.run, Qt.ConnectionType.QueuedConnection)

    def start(self, work: Work) -> None:
        """Queues `work` on the task's thread (behind whatever that thread is doing), with a
        fresh token."""
        self.token = CancelToken()
        self._run.emit(work)

    def cancel(self) -> None:
        self.token.cancel()

    @Slot(object)
    def run(self, work: Work) -> None:
        try:
            result = work(self.progress.emit, self.token)
        except self._cancelled_by:
            self.cancelled.emit()
        except Exception as error:  # noqa: BLE001 - shown where the task was started
            log.error("background task failed:\n%s", traceback.format_exc())
            self.failed.emit(str(error) or type(error).__name__)
        else:
            self.finished.emit(result)
        finally:
            if self._own_thread is not None:
                self._own_thread.quit()


def on_own_thread(task: Task, name: str, work: Work,
                  ended: Optional[Callable[[], None]] = None) -> QThread:
    """Runs `work` once on a new registered thread that ends with it; `ended` is called (on
    the GUI thread, when given a bound method of a GUI object) once the thread is over."""
    thread = managed_thread(name)
    if ended is not None:
        thread.finished.connect(ended)
    task._own_thread = thread
    task.moveToThread(thread)
    thread.started.connect(lambda: task._run.emit(work))  # the task's token stays the caller's
    thread.start()
    return thread
