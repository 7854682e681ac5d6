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


def grey_ramp(width=256, height=64):
    return np.tile(np.linspace(0.0, 1.0, width, dtype=np.float64), (height, 1))


def test_a_16_bit_greyscale_image_reads_at_its_levels_not_near_white(tmp_path):
    ramp = grey_ramp()
    path = tmp_path / "grey16.png"
    Image.fromarray(np.round(ramp * 65535).astype(np.uint16)).save(path)
    with Image.open(path) as opened:
        assert opened.mode.startswith("I")  # what Pillow makes of it: the case under test
    pixels = read_image(path)
    expected = np.round(ramp * 255)
    assert np.abs(pixels[..., 0].astype(int) - expected).max() <= 1
    assert (pixels[..., 0] == pixels[..., 2]).all() and (pixels[..., 3] == 255).all()


def test_a_16_bit_mask_keeps_what_it_keeps(tmp_path, store):
    """As a mask, near-white meant "repaint everything": a quarter-grey half (a light touch)
    must stay a quarter grey."""
    image = tmp_path / "image.png"
    Image.new("RGB", (256, 256), (90, 90, 90)).save(image)
    mask = np.full((256, 256), 64 * 257, np.uint16)
    mask[:, 128:] = 65535
    Image.fromarray(mask).save(tmp_path / "mask.png")
    from engine.img2img.images import mask_from_pixels
    grey = mask_from_pixels(read_image(tmp_path / "mask.png", "mask"))
    assert (grey[:, :128] == 64).all() and (grey[:, 128:] == 255).all()


def test_a_float_tiff_reads_as_its_zero_to_one_levels_not_black(tmp_path):
    ramp = grey_ramp().astype(np.float32)
    path = tmp_path / "float.tif"
    Image.fromarray(ramp).save(path)
    pixels = read_image(path)
    assert np.abs(pixels[..., 1].astype(int) - np.round(ramp * 255)).max() <= 1


def test_exif_orientation_is_honoured(tmp_path):
    """A phone photo stored sideways with 'rotate 90' in its EXIF reads as the person sees it."""
    stored = np.zeros((64, 128, 3), np.uint8)
    stored[:, :64] = (255, 0, 0)  # red on the stored left
    image = Image.fromarray(stored)
    exif = image.getexif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    path = tmp_path / "phone.jpg"
    image.save(path, exif=exif, quality=95)
    pixels = read_image(path)
    assert pixels.shape[:2] == (128, 64)  # upright: taller than wide
    assert pixels[10, 32, 0] > 200 and pixels[-10, 32, 0] < 60  # red at the top after the turn


@pytest.mark.parametrize("size", [(49_000_000, 1), (1, 40_000), (20_000, 100)])
def test_an_absurd_aspect_ratio_is_refused_before_decoding(tmp_path, size):
    path = tmp_path / "strip.png"
    Image.new("L", size, 128).save(path, optimize=False)
    with pytest.raises(ImageProblem, match="narrow"):
        read_image(path)


def test_an_ordinary_wide_image_is_still_taken(tmp_path, store):
    path = tmp_path / "wide.png"
    Image.new("RGB", (1600, 200), (1, 2, 3)).save(path)
    assert read_image(path).shape == (200, 1600, 4)


@pytest.mark.parametrize("blocker", ["file-in-place", "history-is-a-file"])
def test_a_sources_folder_that_cannot_be_written_is_one_message(tmp_path, blocker):
    image = tmp_path / "image.png"
    Image.new("RGB", (128, 128), (200, 10, 10)).save(image)
    if blocker == "file-in-place":
        (tmp_path / "history").mkdir()
        (tmp_path / "history" / "sources").write_text("not a folder")
        store = SourceStore(tmp_path / "history" / "sources")
    else:
        (tmp_path / "history").write_text("not a folder")
        store = SourceStore(tmp_path / "history" / "sources")
    with pytest.raises(ImageProblem, match="Cannot keep the source image"):
        prepare(store, image)


def test_no_history_leaves_no_copy_of_the_source_behind(tmp_path, monkeypatch, capsys):
    import tempfile

    import main
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    image = tmp_path / "image.png"
    Image.new("RGB", (128, 128), (200, 10, 10)).save(image)
    code = main.main(["generate", "--model", "demo", "--prompt", "a red circle", "--steps", "2",
                      "--init-image", str(image), "--no-history", "--no-preview",
                      "--out", str(tmp_path / "out")])
    assert code == 0, capsys.readouterr().err
    assert len(list((tmp_path / "out").glob("*.png"))) == 1
    assert list(scratch.glob("sd-desk-sources-*")) == []
