"""Source images and masks as a person gives them: bad files, odd sizes, transparency,
and the request's Source part through JSON and recipes."""
from __future__ import annotations

import json
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from engine.img2img.images import ImageProblem
from engine.img2img.prepare import canvas_size, prepare
from engine.img2img.store import SourceStore
from engine.request import GenerationRequest, Source


@pytest.fixture()
def store(tmp_path):
    return SourceStore(tmp_path / "sources")


def save(path, pixels):
    Image.fromarray(np.asarray(pixels, np.uint8)).save(path)
    return path


def rgb(width=128, height=128, colour=(10, 20, 30)):
    image = np.zeros((height, width, 3), np.uint8)
    image[...] = colour
    return image


def png_claiming(width: int, height: int) -> bytes:
    """A PNG header for a huge image and hardly any data: what a decompression bomb looks like."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) \
        + chunk(b"IEND", b"")


@pytest.mark.parametrize("content, message", [
    (b"not an image at all", "not an image"),
    (None, "damaged or truncated"),  # a real PNG cut in half
    (png_claiming(30000, 30000), "too large"),
])
def test_unusable_files_get_one_clear_message(tmp_path, store, content, message):
    path = tmp_path / "source.png"
    if content is None:
        noisy = np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)
        save(path, noisy)
        content = path.read_bytes()[: path.stat().st_size // 2]
    path.write_bytes(content)
    with pytest.raises(ImageProblem, match=message):
        prepare(store, path)
    assert not store.folder.exists() or not any(store.folder.iterdir())


def test_missing_file_and_folder_are_named(tmp_path, store):
    with pytest.raises(ImageProblem, match="There is no source image"):
        prepare(store, tmp_path / "nope.png")
    with pytest.raises(ImageProblem, match="is a folder"):
        prepare(store, tmp_path)


def test_an_all_black_mask_has_nothing_to_repaint(tmp_path, store):
    with pytest.raises(ImageProblem, match="all black"):
        prepare(store, rgb(), np.zeros((128, 128), np.uint8))


def test_a_mask_of_another_size_is_resized_and_said(store):
    mask = np.zeros((64, 64), np.uint8)
    mask[32:, 32:] = 255
    prepared = prepare(store, rgb(), mask)
    assert any("mask was resized" in note for note in prepared.notes)
    assert prepared.source.mask is not None


def test_strength_out_of_range_is_refused_before_anything_is_stored(store):
    with pytest.raises(ImageProblem, match="Strength must be a number from 0 to 1"):
        prepare(store, rgb(), strength=1.5)
    assert not store.folder.exists()


def test_a_source_with_alpha_and_no_mask_repaints_its_transparent_part(tmp_path, store):
    rgba = np.zeros((128, 128, 4), np.uint8)
    rgba[..., :3] = 90
    rgba[..., 3] = 255
    rgba[:, 64:, 3] = 0
    prepared = prepare(store, save(tmp_path / "alpha.png", rgba))
    assert any("transparent parts are repainted" in note for note in prepared.notes)
    mask = store.get(prepared.source.mask)[..., 0]
    assert (mask[:, 64:] == 255).all() and (mask[:, :64] == 0).all()


def test_the_output_takes_the_sources_size_snapped_and_says_so(store):
    assert canvas_size(512, 512) == (512, 512, [])
    width, height, notes = canvas_size(300, 200)
    assert (width, height) == (320, 192) and "300x200" in notes[0] and "320x192" in notes[0]
    # A big photo is scaled down whole, keeping its shape, not cropped to 1024x1024.
    width, height, _ = canvas_size(4000, 3000)
    assert (width, height) == (1024, 768)
    assert canvas_size(256, 256, (64, 0, 128, 0))[:2] == (448, 256)
    with pytest.raises(ImageProblem, match="smaller margins"):
        canvas_size(256, 256, (512, 0, 448, 0))


def test_the_store_keeps_one_file_per_image_and_checks_it(store):
    first = prepare(store, rgb()).source.image
    assert prepare(store, rgb()).source.image == first
    assert len(list(store.folder.iterdir())) == 1
    assert np.array_equal(store.get(first)[..., :3], rgb())
    store.path(first).write_bytes(store.path(first).read_bytes()[:-8])
    with pytest.raises(ImageProblem, match="damaged"):
        store.get(first)


def test_a_request_with_a_source_survives_json_and_recipes(store):
    from engine.recipe import from_json, request_from_json
    source = Source("a" * 64, strength=0.4, mask="b" * 64, mask_blur=8, outpaint=(0, 64, 0, 0))
    request = GenerationRequest("a cat", source=source)
    assert GenerationRequest.from_dict(json.loads(request.to_json())) == request
    back, lacking = request_from_json(request.to_json())
    assert back.source == source and "source" not in lacking
    chunk = json.dumps({"request": {**json.loads(request.to_json()),
                                    "source": {"image": "not a hash", "strength": 3}}})
    recipe = from_json(chunk)
    assert "source" not in recipe.values and recipe.values["prompt"] == "a cat"
    assert {p.field for p in recipe.problems} >= {"source", "strength"}


def test_the_a1111_chunk_carries_strength_and_mask_blur():
    from engine.pngmeta import format_parameters
    plain = format_parameters(GenerationRequest("a cat"), 1, "demo")
    assert "Denoising strength" not in plain
    img2img = format_parameters(GenerationRequest("a cat", source=Source("a" * 64, strength=0.75)), 1, "demo")
    assert "Denoising strength: 0.75" in img2img and "Mask blur" not in img2img
    inpaint = format_parameters(GenerationRequest(
        "a cat", source=Source("a" * 64, mask="b" * 64, mask_blur=4)), 1, "demo")
    assert inpaint.endswith("Denoising strength: 0.75, Mask blur: 4")


def test_a_third_party_reader_sees_the_new_keys(tmp_path):
    """The same split A1111-style readers do: one `key: value` list on the last line."""
    from engine.pngmeta import parse_parameters
    text = "a cat\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 1, Size: 512x512, Model: demo, " \
           "Denoising strength: 0.75, Mask blur: 4"
    parsed = parse_parameters(text)
    assert parsed.extra.get("Denoising strength") == "0.75" and parsed.extra.get("Mask blur") == "4"
