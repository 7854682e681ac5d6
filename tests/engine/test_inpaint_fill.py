"""Inpainting's masked content (A1111's fill, original, latent noise, latent nothing): the
request's choice, checked and kept in recipes; what each puts in the masked area; the
default repainting at strength 0.75 where the original did not; the kept area exact."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import main
from engine.img2img import canvas as canvases
from engine.request import (DEFAULT_INPAINT_FILL, INPAINT_FILLS, GenerationRequest, Source,
                            check_field)

SIZE = 128
STORED = "a" * 64
WHITE = (245, 245, 245)
PROMPT = "a red circle on the left, white background"


def white_image() -> np.ndarray:
    """The issue's case: a demo-like picture with a white background and a shape on the right."""
    pixels = np.full((SIZE, SIZE, 3), WHITE, np.uint8)
    pixels[40:88, 80:112] = (40, 170, 60)
    return pixels


def top_left_mask() -> np.ndarray:
    mask = np.zeros((SIZE, SIZE), np.uint8)
    mask[:96, :64] = 255
    return mask


# ---- the request ------------------------------------------------------------------------

def test_a_source_names_its_fill_and_a_bad_one_is_one_message():
    assert Source(STORED).inpaint_fill == DEFAULT_INPAINT_FILL
    assert set(INPAINT_FILLS) == {"fill", "original", "latent-noise", "latent-nothing"}
    for fill in INPAINT_FILLS:
        assert check_field("source", Source(STORED, mask=STORED, inpaint_fill=fill)) == []
    (problem,) = check_field("source", Source(STORED, inpaint_fill="blur"))
    assert problem.field == "inpaint_fill"
    assert "'blur'" in problem.message and "latent-noise" in problem.message
    assert check_field("source", {"image": STORED, "inpaint_fill": 3})


def test_recipes_keep_the_fill_and_old_recipes_read_as_the_original():
    request = GenerationRequest("x", source=Source(STORED, mask=STORED, inpaint_fill="latent-nothing"))
    assert GenerationRequest.from_dict(json.loads(request.to_json())) == request
    old = json.loads(request.to_json())
    del old["source"]["inpaint_fill"]
    assert GenerationRequest.from_dict(old).source.inpaint_fill == "original"
    assert check_field("source", old["source"]) == []


# ---- the canvas -------------------------------------------------------------------------

def test_the_surroundings_fill_takes_the_colours_around_the_mask_and_keeps_the_rest():
    pixels = np.zeros((64, 64, 3), np.uint8)
    pixels[:, :32] = (200, 0, 0)  # red left half, blue right half
    pixels[:, 32:] = (0, 0, 200)
    pixels[8:24, 4:20] = (0, 255, 0)  # a green patch inside the red, to be masked out
    mask = np.zeros((64, 64), np.float32)
    mask[6:26, 2:22] = 1.0
    filled = canvases.surroundings_fill(pixels, mask)
    kept = mask == 0
    assert np.array_equal(filled[kept], pixels[kept])
    inside = filled[8:24, 4:20].reshape(-1, 3).astype(int)
    assert inside[:, 1].max() < 20  # no green left
    assert inside[:, 0].mean() > 150 and inside[:, 2].mean() < 50  # red, as around it
    everything = canvases.surroundings_fill(pixels, np.ones((64, 64), np.float32))
    assert np.ptp(everything.reshape(-1, 3), axis=0).max() <= 1  # one colour: the mean


def test_each_fill_sets_what_the_masked_latent_starts_from():
    pixels, mask = white_image(), top_left_mask()
    pixels[10:30, 10:30] = (20, 20, 20)  # something under the mask
    by_fill = {fill: canvases.build(Source(STORED, mask=STORED, mask_blur=0, inpaint_fill=fill),
                                    pixels, mask, SIZE, SIZE) for fill in INPAINT_FILLS}
    for canvas in by_fill.values():
        assert np.array_equal(canvas.pixels, pixels)  # what the kept area and composite use
    assert np.array_equal(by_fill["original"].start_pixels(), pixels)
    assert by_fill["original"].latent_fill is None
    start = by_fill["fill"].start_pixels()
    assert start[10:30, 10:30].min() > 200  # the dark patch filled from the white around it
    encoded = np.ones((2, 8, 8, 3), np.float32)
    repaint = np.zeros((8, 8, 1), np.float32)
    repaint[:4, :4] = 1.0
    noise = by_fill["latent-noise"].starting_latent(encoded, repaint, [5, 6])
    nothing = by_fill["latent-nothing"].starting_latent(encoded, repaint, [5, 6])
    assert np.array_equal(noise[:, 4:], encoded[:, 4:]) and np.array_equal(nothing[:, 4:], encoded[:, 4:])
    assert np.array_equal(nothing[:, :4, :4], np.zeros((2, 4, 4, 3)))
    assert 0.3 < noise[:, :4, :4].std() < 3 and not np.array_equal(noise[0], noise[1])
    again = by_fill["latent-noise"].starting_latent(encoded, repaint, [6])
    assert np.array_equal(again[0], noise[1])  # a batch's image is the same made alone
    assert by_fill["original"].starting_latent(encoded, repaint, [5, 6]) is encoded


# ---- on the demo model ------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo():
    from engine.demo.backend import load_demo_backend
    return load_demo_backend(SIZE, SIZE)


def _inpaint(demo, fill: str, strength: float = 0.75) -> tuple[np.ndarray, canvases.Canvas]:
    from engine.sampler import sample
    source = Source(STORED, strength=strength, mask=STORED, inpaint_fill=fill)
    request = GenerationRequest(PROMPT, model="demo", seed=1, batch=2, steps=12, width=SIZE,
                                height=SIZE, preview=False, source=source)
    canvas = canvases.build(source, white_image(), top_left_mask(), SIZE, SIZE, seed=1)
    return sample(demo, request, canvas=canvas).images, canvas


@pytest.fixture(scope="module")
def inpainted(demo):
    return {fill: _inpaint(demo, fill) for fill in INPAINT_FILLS}


def _change(images: np.ndarray, where: np.ndarray) -> np.ndarray:
    return np.abs(images.astype(np.int32) - white_image()[None].astype(np.int32))[:, where]


def test_every_fill_keeps_the_unmasked_pixels_exactly(inpainted):
    for fill, (images, canvas) in inpainted.items():
        kept = canvas.mask == 0
        assert kept.mean() > 0.5
        assert _change(images, kept).max() == 0, fill


def test_the_default_repaints_the_masked_area_at_strength_three_quarters(inpainted):
    masked = top_left_mask() > 0
    original = _change(inpainted["original"][0], masked).mean()
    default = _change(inpainted[DEFAULT_INPAINT_FILL][0], masked).mean()
    assert default > 2 * original and default > 15  # levels, mean over the masked area
    red = inpainted[DEFAULT_INPAINT_FILL][0][:, masked].astype(np.int32)
    reddish = (red[..., 0] > 150) & (red[..., 1] < 110) & (red[..., 2] < 110)
    assert reddish.mean() > 0.12  # the prompt's circle, not the white that was there


def test_the_cli_takes_the_fill_and_records_it(tmp_path, capsys):
    Image.fromarray(white_image()).save(tmp_path / "a.png")
    Image.fromarray(top_left_mask()).save(tmp_path / "m.png")
    common = ["generate", "--model", "demo", "--init-image", str(tmp_path / "a.png"), "--mask",
              str(tmp_path / "m.png"), "--prompt", PROMPT, "--steps", "2", "--no-history"]
    assert main.main([*common, "--inpaint-fill", "latent-nothing", "--out", str(tmp_path / "o")]) == 0
    (path,) = (tmp_path / "o").glob("*.png")
    recorded = json.loads(Image.open(path).text["sd_desk"])["request"]["source"]
    assert recorded["inpaint_fill"] == "latent-nothing"
    assert main.main([*common, "--out", str(tmp_path / "d")]) == 0
    (path,) = (tmp_path / "d").glob("*.png")
    assert json.loads(Image.open(path).text["sd_desk"])["request"]["source"]["inpaint_fill"] \
        == DEFAULT_INPAINT_FILL
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        main.main([*common, "--inpaint-fill", "blur", "--out", str(tmp_path / "x")])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "--inpaint-fill" in err and "latent-noise" in err and "Traceback" not in err
