"""The status bar's word on the engine: starting, loading, ready (on which backend and
device), or unavailable, with the reason in the banner."""
from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QWidget

from engine.jobs import EngineFailed, EngineLoading, EngineReady
from gui.notices import Notices
from gui.preferences import compute_status


class EngineStatus(QLabel):
    ready = Signal(object)  # the loaded engine, which the form counts tokens with

    def __init__(self, worker, notices: Notices, parent: Optional[QWidget] = None) -> None:
        """`worker`: the gui.worker.GenerationWorker that loads and holds the engine."""
        super().__init__("Starting the engine\u2026", parent)
        self.setObjectName("deviceLabel")
        self.worker = worker
        self.notices = notices
        self.device = ""  # where it runs, once it is ready
        # A bound method: a lambda connected to the worker's signal would run on the worker thread.
        worker.event.connect(self._on_event)

    def _on_event(self, event, _images: list) -> None:
        if isinstance(event, EngineLoading):
            self.setText("Loading the engine\u2026")
        elif isinstance(event, EngineReady):
            self.device = event.device
            self.setText(f"Engine ready \u00b7 {compute_status(event.backend, event.device)}")
            self.ready.emit(self.worker.engine)
        elif isinstance(event, EngineFailed):
            self.setText("Engine unavailable")
            self.notices.error(event.title, event.message)
