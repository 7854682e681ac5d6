"""Source images and masks that are not what they seem (issue 31, inputs 2 and 7): files that
are not regular files, images whose mode or orientation changes what the pixels mean, and
shapes no canvas can hold."""
from __future__ import annotations

import os
import threading

import numpy as np
import pytest
from PIL import Image

from engine.img2img.images import ImageProblem, read_image
from engine.img2img.prepare import prepare
from engine.img2img.store import SourceStore


@pytest.fixture()
def store(tmp_path):
    return SourceStore(tmp_path / "sources")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX named pipes")
@pytest.mark.parametrize("role", ["image", "mask"])
def test_a_named_pipe_is_refused_at_once_not_read_forever(tmp_path, store, role):
    good = tmp_path / "good.png"
    Image.new("RGB", (128, 128), (200, 10, 10)).save(good)
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    outcome = []

    def attempt():
        try:
            prepare(store, fifo) if role == "image" else prepare(store, good, mask=fifo)
            outcome.append("accepted")
        except ImageProblem as problem:
            outcome.append(str(problem))

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(30)  # a bound against the hang under test; the refusal takes milliseconds
    if thread.is_alive():  # release the reader so the test process is not left blocked
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(10)
        pytest.fail("the named pipe was read, waiting for a writer")
    assert len(outcome) == 1 and "not a regular file" in outcome[0], outcome
    assert "pipe.png" in outcome[0]


def test_a_device_file_is_refused_with_the_same_message(tmp_path):
    with pytest.raises(ImageProblem, match="not a regular file"):
        read_image("/dev/null")
