"""The one test that runs the real engine (TensorFlow) through the worker, at a small size.

It uses the built-in demo model when its weights are present, else Stable
Diffusion 1.4 built with random weights: the images mean nothing, but the
pipeline, the thread handling and the history are the real ones.
"""
from __future__ import annotations

import threading

import numpy as np
import pytest
from PIL import Image

from engine.request import GenerationRequest
from gui.services import make_engine
from engine.jobs import Finished, JobProgress
from gui.worker import GenerationWorker, WorkerHost
from tests.gui.fakes import FakeHistory


def _demo_ready() -> bool:
    try:
        import engine.demo.backend  # noqa: F401
        from engine.resources import resources_dir
    except ImportError:
        return False
    folder = resources_dir() / "demo"
    return folder.is_dir() and any(folder.glob("*.weights.h5"))


@pytest.mark.timeout(900)
def test_real_engine_generates_through_the_worker(qtbot, tmp_path):
    pytest.importorskip("engine.pipeline")
    demo = _demo_ready()
    model = "demo" if demo else "sd-v1.4"
    history = FakeHistory(tmp_path / "history")
    worker = GenerationWorker(lambda: make_engine(random_weights=not demo), lambda: history)
    host = WorkerHost(worker)
    phases, previews = [], []

    def record(event, images):
        if isinstance(event, JobProgress):
            phases.append((event.phase, event.step))
            previews.extend(image.size() for image in images)
    worker.event.connect(record)
    try:
        request = GenerationRequest(prompt="a small red circle on the left, blue background",
                                    seed=5, steps=2, width=128, height=128, model=model)
        with qtbot.waitSignal(worker.event, timeout=900_000,
                              check_params_cb=lambda e, _: isinstance(e, Finished)) as blocker:
            worker.queue.add(request)
            worker.wake()
        images = blocker.args[1]
    finally:
        assert host.shutdown()
    assert [p for p in phases if p[0] == "denoising"] == [("denoising", 1), ("denoising", 2)]
    assert phases[0][0] == "loading" and ("saving", 2) in phases
    assert len(previews) == 2
    assert images[0].width() == 128 and images[0].height() == 128
    assert history.add_threads and threading.get_ident() not in history.add_threads
    saved = history.page(0, 1)[0]
    with Image.open(saved.path) as image:
        assert image.size == (128, 128)
        assert "Seed: 5" in image.text["parameters"]
        assert np.asarray(image).std() > 0  # not a blank frame
