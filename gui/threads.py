"""Every thread the GUI starts is registered here, so tests can fail one that outlives its owner."""
from __future__ import annotations

import ctypes
import weakref

from PySide6.QtCore import QThread, QThreadPool, Qt

_threads: "weakref.WeakSet[QThread]" = weakref.WeakSet()
_pools: "weakref.WeakSet[QThreadPool]" = weakref.WeakSet()


def managed_thread(name: str) -> QThread:
    thread = QThread()
    thread.setObjectName(name)
    # Direct connections: both run on the new thread itself, first and last.
    thread.started.connect(_pin_python_thread_state, Qt.ConnectionType.DirectConnection)
    thread.finished.connect(_unpin_python_thread_state, Qt.ConnectionType.DirectConnection)
    _threads.add(thread)
    return thread


_pins = {}


def _pin_python_thread_state() -> None:
    """Keeps one Python thread state for the QThread's whole life.

    PySide makes and deletes a thread state around each slot call, but pybind11
    (TensorFlow) remembers the one of the thread that first imported it; a later
    slot then runs TensorFlow on a deleted state and the app segfaults.
    """
    import threading

    ensure = ctypes.pythonapi.PyGILState_Ensure
    ensure.restype = ctypes.c_int
    _pins[threading.get_ident()] = ensure()


def _unpin_python_thread_state() -> None:
    import threading

    state = _pins.pop(threading.get_ident(), None)
    if state is not None:
        ctypes.pythonapi.PyGILState_Release.argtypes = [ctypes.c_int]
        ctypes.pythonapi.PyGILState_Release(state)


def managed_pool(name: str, max_threads: int = 2) -> QThreadPool:
    """A private pool rather than the global one: its owner can wait for exactly its own tasks."""
    pool = QThreadPool()
    pool.setObjectName(name)
    pool.setMaxThreadCount(max_threads)
    _pools.add(pool)
    return pool


def running_threads() -> list[str]:
    """Names of registered threads still running and pools with tasks in flight."""
    names = []
    for thread in list(_threads):
        try:
            if thread.isRunning():
                names.append(thread.objectName() or "QThread")
        except RuntimeError:  # the C++ object is gone, so the thread is too
            pass
    for pool in list(_pools):
        try:
            if pool.activeThreadCount():
                names.append(f"{pool.objectName() or 'pool'} ({pool.activeThreadCount()} active)")
        except RuntimeError:
            pass
    return names
