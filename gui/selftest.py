"""`python main.py --self-test`: the packaged app proves it can open and make an image.

Builds the real main window offscreen, runs one small generation through the
real worker and engine with the smallest usable model, checks the result landed
in a temporary history, and exits 0. Nothing touches the user's own history or
settings.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

SELF_TEST_PROMPT = "a small red circle on the left, blue background"
TIMEOUT_S = 900


def _say(text: str) -> None:
    # A windowed (PyInstaller) build has no stdout at all.
    if sys.stdout is not None:
        print(f"self-test: {text}", flush=True)


def choose_model(models) -> tuple[str, bool]:
    """(model id, needs random weights): the app's own default (engine.default_model),
    or Stable Diffusion untrained when even that has no files (a build without the demo)."""
    from engine.default_model import default_model_id
    present = {m.id for m in models if m.has_files}
    chosen = default_model_id(has_files=present.__contains__)
    by_id = {m.id: m for m in models}
    if chosen in by_id and by_id[chosen].usable:
        return chosen, False
    return chosen, True


def run_self_test() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    scratch = Path(tempfile.mkdtemp(prefix="sd-desk-self-test-"))
    os.environ["SD_DESK_HISTORY_DIR"] = str(scratch / "history")

    from PySide6.QtCore import QSettings, QTimer

    from engine.request import GenerationRequest
    from gui.app import make_application, make_window
    from gui.engine_status import EngineStatus
    from gui.form import GenerationForm
    from gui.gallery_panel import GalleryPanel
    from gui.generation_panel import GenerationPanel
    from gui.services import default_services, make_engine
    from gui.worker import GenerationWorker

    started = time.perf_counter()
    app = make_application([sys.argv[0]])
    services = default_services()
    model_id, random_weights = choose_model(services.models())
    if random_weights:
        _say("no installed model: using Stable Diffusion 1.4 with random weights")
        services.engine_factory = lambda: make_engine(random_weights=True)
        services.models = _force_usable(services.models, model_id)
    window = make_window(services, QSettings(str(scratch / "settings.ini"), QSettings.Format.IniFormat))
    worker: GenerationWorker = window.worker
    form: GenerationForm = window.form
    generation: GenerationPanel = window.generation
    gallery: GalleryPanel = window.gallery
    engine_status: EngineStatus = window.engine_status
    window.show()
    app.processEvents()
    _say(f"window built in {time.perf_counter() - started:.1f} s; model {model_id}")

    waiter = _Waiter()
    worker.event.connect(waiter.on_event)
    outcome, loop = waiter.outcome, waiter.loop
    request = GenerationRequest(prompt=SELF_TEST_PROMPT, seed=1, steps=2, guidance=7.5,
                                width=128, height=128, batch=1, model=model_id)
    form.set_request(request)
    form.seed.lock.setChecked(True)
    job = generation.generate()
    if job is None:
        _say(f"the form refused the request: {generation.why_not()}")
        window.close()
        return 1
    QTimer.singleShot(TIMEOUT_S * 1000, loop.quit)
    loop.exec()
    app.processEvents()

    ok = False
    if "done" in outcome:
        done = outcome["done"]
        stored = gallery.store.count() if gallery.store is not None else 0
        shown = gallery.model.rowCount() if gallery.model is not None else 0
        files = list((scratch / "history").rglob("*.png"))
        ok = waiter.images == 1 and stored == 1 and shown == 1 and len(files) == 1
        _say(f"generated {waiter.images} image(s) in {done.seconds:.1f} s on {engine_status.device}; "
             f"history has {stored}, gallery shows {shown}, files {len(files)}")
    else:
        _say(f"generation did not finish: {outcome.get('error', 'timed out')}")
    window.close()
    _say(("passed" if ok else "FAILED") + f" in {time.perf_counter() - started:.1f} s")
    return 0 if ok else 1


def _waiter_class():
    from PySide6.QtCore import QEventLoop, QObject, Slot

    class Waiter(QObject):
        """Lives on the GUI thread, so the worker's signals reach it queued."""

        def __init__(self) -> None:
            super().__init__()
            self.outcome: dict = {}
            self.loop = QEventLoop()
            self._last = ""
            self.images = 0

        @Slot(object, list)
        def on_event(self, event, images) -> None:
            from engine.jobs import Cancelled, Failed, Finished, JobProgress
            if isinstance(event, Finished):
                self.outcome["done"] = event
                self.images = len(images)
            elif isinstance(event, Failed):
                self.outcome["error"] = f"{event.title}: {event.message}"
            elif isinstance(event, Cancelled):
                self.outcome["error"] = "cancelled"
            else:
                if isinstance(event, JobProgress) and event.phase != self._last:
                    self._last = event.phase
                    _say(event.describe())
                return
            self.loop.quit()

    return Waiter


def _Waiter():
    return _waiter_class()()


def _force_usable(models_fn, model_id: str):
    """Random weights need no files: the chosen model must not send the window to first-run."""
    from dataclasses import replace

    def models():
        return [replace(m, state="installed") if m.id == model_id else m for m in models_fn()]
    return models
