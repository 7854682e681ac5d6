"""Each image's JSON metadata says which Keras backend and device made it."""
import json

import numpy as np
from PIL import Image

from engine.events import GeneratedImage, GenerationResult
from engine.history.store import HistoryStore
from engine.paths import HistoryLocation
from engine.pngmeta import JSON_KEY, save_png
from engine.request import GenerationRequest

PIXELS = np.zeros((64, 64, 3), dtype=np.uint8)


def recipe(path):
    return json.loads(Image.open(path).text[JSON_KEY])


def test_backend_and_device_are_written_beside_the_request(tmp_path):
    request = GenerationRequest("a cat", seed=7, width=64, height=64)
    path = save_png(tmp_path / "a.png", PIXELS, request, 7, "sd-v1.4", "jax", "GPU: NVIDIA H200")
    data = recipe(path)
    assert (data["backend"], data["device"]) == ("jax", "GPU: NVIDIA H200")
    assert data["request"]["prompt"] == "a cat"


def test_unknown_backend_and_device_are_left_out_not_written_empty(tmp_path):
    request = GenerationRequest("a cat", seed=7, width=64, height=64)
    data = recipe(save_png(tmp_path / "a.png", PIXELS, request, 7, "sd-v1.4"))
    assert "backend" not in data and "device" not in data


def test_the_history_records_what_the_engine_ran_on(tmp_path):
    request = GenerationRequest("a dog", seed=3, width=64, height=64)
    result = GenerationResult(request, [GeneratedImage(PIXELS, 3)], "sd-v1.4", "CPU",
                              backend="torch")
    store = HistoryStore(HistoryLocation(tmp_path / "history"))
    try:
        record, = store.add_result(result)
        data = recipe(record.path)
    finally:
        store.close()
    assert (data["backend"], data["device"]) == ("torch", "CPU")
