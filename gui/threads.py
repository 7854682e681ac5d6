"""Every thread the GUI starts is registered here, so tests can fail one that outlives its owner."""
from __future__ import annotations

import weakref

from PySide6.QtCore import QThread, QThreadPool

_threads: "weakref.WeakSet[QThread]" = weakref.WeakSet()
_pools: "weakref.WeakSet[QThreadPool]" = weakref.WeakSet()


def managed_thread(name: str) -> QThread:
    thread = QThread()
    thread.setObjectName(name)
    _threads.add(thread)
    return thread


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
