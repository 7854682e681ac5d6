""""Upscale x2" from the gallery and the viewer: the image read and stored on a thread of its
own, then its request (engine/hires/upscale_image.py) put on the queue like any generation."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject

from engine.hires.upscale_image import upscale_request
from engine.img2img.images import ImageProblem
from gui.tasks import Task, on_own_thread


class UpscaleAction(QObject):
    """`queue`: the queue panel (its enqueue); `notices`: where problems and progress are said."""

    def __init__(self, sources, queue, notices, parent=None) -> None:
        super().__init__(parent)
        self.sources, self.queue, self.notices = sources, queue, notices
        self._running: list = []

    def upscale(self, entry, repaint: bool) -> None:
        """`entry`: a gallery entry with its whole recipe (path, request)."""
        path, recipe, store = Path(entry.path), entry.request, self.sources

        def work(_progress, _cancel):
            try:
                return upscale_request(store, path, recipe, repaint)
            except ImageProblem as problem:
                return problem
        task = Task()
        task.finished.connect(self._made)
        task.failed.connect(lambda message: self.notices.error("Cannot upscale", message))
        self._running = [(t, k) for t, k in self._running if not t.isFinished()]
        self._running.append((on_own_thread(task, "upscale", work), task))

    def _made(self, result) -> None:
        if isinstance(result, Exception):
            self.notices.error("Cannot upscale", str(result))
            return
        self.queue.enqueue([result])
        self.notices.status(f"Upscale to {result.width}\u00d7{result.height} queued.", 5000)

    def shutdown(self, timeout_ms: int = 30_000) -> None:
        for thread, _task in self._running:
            thread.wait(timeout_ms)
        self._running.clear()
