"""The window's side of Preferences > API: serves AUTOMATIC1111's API over the window's own
queue and runner (the worker's), so API jobs show in the queue and gallery, the window's
Cancel stops them and the API's /interrupt stops the window's running job, as in A1111.

The server runs on a thread of its own (uvicorn); nothing here blocks the GUI thread for
longer than binding a port.
"""
from __future__ import annotations

import logging
from typing import Optional

from PySide6.QtCore import QObject

from gui import api_preferences
from gui.notices import Notices

log = logging.getLogger(__name__)


class ApiSwitch(QObject):
    def __init__(self, worker, sources, notices: Notices, parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self.worker = worker
        self.sources = sources
        self.notices = notices
        self.server = None
        self.port = None
        api_preferences.on_saved(self.apply)

    @property
    def url(self) -> Optional[str]:
        return self.server.url if self.server is not None else None

    def apply(self) -> None:
        """Serves as the saved preference says: starts, stops, or restarts with new options."""
        from engine.api import preference
        chosen = preference.read()
        self.stop()
        if not chosen.enabled:
            return
        problem = chosen.problem()
        if problem:
            self.notices.error("API not served", problem)
            return
        try:
            self._start(chosen)
        except OSError as error:
            self.stop()
            self.notices.error("API not served", f"Cannot listen on {chosen.host}:{chosen.port}: "
                                                 f"{error.strerror or error}. Is another server "
                                                 "using that port? Choose another in Preferences > API.")
            return
        self.notices.status(f"Serving the API on {self.url}/sdapi/v1/", 8000)

    def _start(self, chosen) -> None:
        from engine.api.app import ApiSettings, create_app
        from engine.api.port import QueuePort
        from engine.api.server import ApiServer
        sources = self.sources
        if sources is None:
            from engine.img2img.store import SourceStore
            sources = SourceStore.of_history()
        self.port = QueuePort(self.worker.queue, self.worker.runner, self.worker.wake, sources)
        app = create_app(self.port, ApiSettings(chosen.credentials(), chosen.cors_origins))
        self.server = ApiServer(app, chosen.host, chosen.port).start()
        log.info("serving the API on %s", self.server.url)

    def stop(self) -> None:
        """Closes the port (calls still waiting end cancelled; their jobs stay in the queue)
        and the server."""
        if self.port is not None:
            self.port.close()
            self.port = None
        if self.server is not None:
            self.server.stop()
            self.server = None

    def shutdown(self) -> None:
        api_preferences.forget(self.apply)
        self.stop()
