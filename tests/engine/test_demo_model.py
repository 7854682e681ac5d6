"""The trained demo model, driven by the shared step loop, draws what its prompts say."""
import numpy as np
import pytest

from engine import sampler
from engine.demo.analysis import read_image
from engine.request import GenerationRequest

SIZE = 128


@pytest.fixture(scope="module")
def backend():
    from engine.demo.backend import load_demo_backend

    return load_demo_backend(SIZE, SIZE)


def generate(backend, prompt, seed=0, batch=1, negative="", guidance=7.5, steps=20,
             width=SIZE, height=SIZE):
    request = GenerationRequest(prompt=prompt, negative_prompt=negative, seed=seed, steps=steps,
                                guidance=guidance, batch=batch, width=width, height=height,
                                model="demo", preview=False)
    return sampler.sample(backend, request).images


def test_the_demo_model_is_registered_for_the_chooser_and_cli():
    import engine.demo  # noqa: F401
    from engine.models.registry import all_model_ids, get_model

    assert "demo" in all_model_ids()
    spec = get_model("demo")
    assert (spec.label, spec.family, spec.files) == ("Demo (built-in)", "demo", ())


# Trained and held-out (never seen in training) colour/shape/background combinations.
PROMPTS = [
    ("a large red circle on the left, blue background", "red", "left", "blue"),
    ("a small yellow square at the top, black background", "yellow", "top", "black"),
    ("a large green triangle at the bottom, white background", "green", "bottom", "white"),
    ("a large purple square on the right, yellow background", "purple", "right", "yellow"),
    ("a small white circle in the centre, orange background", "white", "centre", "orange"),
    ("a large orange triangle on the right, green background", "orange", "right", "green"),
]


def _readings(backend, prompt):
    # Four fixed seeds per prompt.
    return [read_image(image) for image in generate(backend, prompt, seed=7, batch=4)]


@pytest.mark.parametrize("prompt,colour,position,background", PROMPTS)
def test_shape_and_background_colours_follow_the_prompt(backend, prompt, colour, position,
                                                        background):
    # By chance alone both colours would match 1 time in 56.
    readings = _readings(backend, prompt)
    matched = [(r.colour, r.background) == (colour, background) for r in readings]
    assert sum(matched) >= 3, [(r.colour, r.background) for r in readings]


@pytest.mark.parametrize("prompt,colour,position,background",
                         [p for p in PROMPTS if p[2] != "centre"])
def test_positions_follow_the_prompt(backend, prompt, colour, position, background):
    readings = _readings(backend, prompt)
    matched = [(r.colour, r.position) == (colour, position) for r in readings]
    assert sum(matched) >= 3, [(r.colour, r.position) for r in readings]


@pytest.mark.parametrize("prompt,kind", [
    ("a large red circle on the left, blue background", "circle"),
    ("a large yellow square at the top, black background", "square"),
    ("a large green triangle at the bottom, white background", "triangle"),
    ("a large blue triangle on the right, orange background", "triangle"),
])
def test_shapes_follow_the_prompt(backend, prompt, kind):
    readings = _readings(backend, prompt)
    assert sum(r.shape == kind for r in readings) >= 3, [r.shape for r in readings]


def test_two_shapes_land_on_their_own_sides(backend):
    image = generate(backend, "a large red square on the left and a large blue circle on the "
                              "right, white background", seed=5)[0].astype(float)
    red, blue = np.array([220, 40, 40]), np.array([40, 80, 220])
    half = image.shape[1] // 2

    def share(part, rgb):
        return float((np.abs(part - rgb).sum(-1) < 60).mean())

    left, right = image[:, :half], image[:, half:]
    assert share(left, red) > 0.05 and share(right, blue) > 0.05
    assert share(left, blue) < 0.01 and share(right, red) < 0.01


def test_the_same_seed_gives_the_same_image_and_other_seeds_differ(backend):
    prompt = "a red square, blue background"
    first = generate(backend, prompt, seed=42, steps=8)
    again = generate(backend, prompt, seed=42, steps=8)
    np.testing.assert_array_equal(first, again)
    # Image i of a batch uses seed + i, so it is image 0 of a batch that starts there.
    batch = generate(backend, prompt, seed=41, batch=2, steps=8)
    np.testing.assert_array_equal(batch[1], first[0])
    assert np.abs(batch[0].astype(int) - batch[1].astype(int)).mean() > 5


def test_a_negative_prompt_steers_away_from_a_colour(backend):
    # The caption names no colour, so the model picks one; these seeds pick red twice.
    prompt = "a large circle in the centre, white background"
    free = [read_image(i).colour for i in generate(backend, prompt, seed=3, batch=4)]
    assert "red" in free, free
    # A negative prompt is read like a caption: "a red circle" is one the model knows.
    steered = [read_image(i).colour
               for i in generate(backend, prompt, seed=3, batch=4, negative="a red circle")]
    assert all(c not in (None, "red") for c in steered), steered


def test_images_have_the_requested_size_and_previews_are_small(backend):
    from engine.demo.backend import load_demo_backend

    wide = load_demo_backend(192, 128)
    image = generate(wide, "a blue circle, yellow background", steps=4, width=192, height=128)
    assert image.shape == (1, 128, 192, 3) and image.dtype == np.uint8
    preview = backend.preview(np.zeros((2, *backend.latent_shape()), np.float32))
    assert preview.shape[0] == 2 and preview.shape[1] <= 64 and preview.dtype == np.uint8


def test_unknown_words_are_named_in_the_message(backend):
    message = backend.vocabulary_problem("a red dragon, blue sky")
    assert '"dragon"' in message and '"sky"' in message and "circle" in message
    assert backend.vocabulary_problem("a red circle, blue background") is None
    assert backend.count_tokens("a red circle") == 5 <= backend.max_tokens


@pytest.mark.parametrize("prompt", ["🦊🦊🦊", "שלום עולם"])
def test_the_engine_refuses_a_prompt_the_demo_would_silently_ignore(prompt):
    from engine.errors import InvalidRequest
    from engine.pipeline import Engine

    with pytest.raises(InvalidRequest, match="knows none of the words"):
        Engine().generate(GenerationRequest(prompt, steps=1, width=SIZE, height=SIZE, model="demo",
                                            preview=False))
