"""The demo model's world without the model: captions, vocabulary, rendering, image analysis."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from engine.demo import scenes, text
from engine.demo.analysis import read_image
from engine.demo.upsampler import sharp_resize


@given(st.integers(0, 2**32 - 1))
@settings(max_examples=60, deadline=None)
def test_analysis_reads_back_every_rendered_one_shape_scene(seed):
    # The evaluation's numbers are only as good as this reading of the images.
    rng = np.random.default_rng(seed)
    scene = scenes.random_scene(rng, allow_held_out=True, two_shapes=0.0)
    shape = scene.shapes[0]
    reading = read_image(scenes.render([scene], 64)[0])
    assert (reading.background, reading.colour, reading.shape, reading.position, reading.size) == (
        scene.background, shape.colour, shape.kind, shape.position, shape.size)


def test_analysis_reports_no_shape_on_a_plain_background():
    plain = np.empty((64, 64, 3), np.uint8)
    plain[:] = scenes.COLOURS["green"]
    reading = read_image(plain)
    assert reading.background == "green"
    assert reading.colour is None and reading.shape is None


def test_captions_follow_the_grammar_and_use_only_known_words():
    rng = np.random.default_rng(0)
    captions = [scenes.random_scene(rng).caption for _ in range(500)]
    assert all(text.unknown_words(c) == [] for c in captions)
    assert all(text.count_tokens(c) <= text.SEQUENCE_LENGTH for c in captions)
    assert all(c.endswith(" background") for c in captions)
    # Size and position are sometimes left out, and two-shape scenes appear.
    assert any(not any(p in c for p in scenes.POSITION_PHRASES.values()) for c in captions)
    assert any(not any(s in c.split() for s in scenes.SIZES) for c in captions)
    assert any(" and " in c for c in captions)
    assert "a small red circle on the left, blue background" == scenes.caption_for(
        [("circle", "red", "small", "left")], "blue")
    assert "an orange square, white background" == scenes.caption_for(
        [("square", "orange", None, None)], "white")


def test_held_out_combinations_never_reach_training():
    rng = np.random.default_rng(1)
    held = set(scenes.HELD_OUT)
    for _ in range(2000):
        scene = scenes.random_scene(rng)
        assert not any((s.colour, s.kind, scene.background) in held for s in scene.shapes)


def test_unknown_words_are_named_once_each_in_order():
    assert text.unknown_words("a red dragon on the left, blue sky, dragon") == ["dragon", "sky"]
    assert text.unknown_words("A BIG Red Circle in the center, white background") == []
    assert text.unknown_words("a picture of a red circle") == []


def test_token_ids_have_fixed_length_and_mark_start_and_end():
    ids = text.token_ids(["a red circle", ""])
    assert ids.shape == (2, text.SEQUENCE_LENGTH)
    assert list(ids[0, :5]) == [text.START, 3, text.VOCABULARY.index("red"),
                                text.VOCABULARY.index("circle"), text.END]
    assert list(ids[1, :3]) == [text.START, text.END, text.PAD]
    assert text.count_tokens("a red circle") == 5


@pytest.mark.parametrize("kind", scenes.SHAPES)
def test_sharp_resize_is_closer_to_a_true_large_render_than_bilinear(kind):
    import tensorflow as tf

    shape = scenes.Shape(kind, "red", "centre", "large", 0.5, 0.47, 0.21)
    scene = scenes.Scene("blue", (shape,))
    small, truth = scenes.render([scene], 64), scenes.render([scene], 256).astype(float)
    sharp = sharp_resize(small, 256, 256).astype(float)
    blurry = tf.image.resize(small.astype(np.float32), (256, 256)).numpy()
    assert sharp.shape == (1, 256, 256, 3)
    assert np.abs(sharp - truth).mean() < 0.7 * np.abs(blurry - truth).mean()
    # Sharp means few pixels that are neither colour: far fewer than bilinear leaves,
    # and within a small factor of a true render at 256x256.
    assert _blended(sharp) < 0.4 * _blended(blurry)
    assert _blended(sharp) < 3.5 * _blended(truth)


def _blended(images: np.ndarray) -> int:
    red, blue = (np.array(scenes.COLOURS[c], float) for c in ("red", "blue"))
    return int(((np.abs(images - red).max(-1) > 30) & (np.abs(images - blue).max(-1) > 30)).sum())


def test_two_shapes_are_drawn_in_their_own_colours_and_places():
    rng = np.random.default_rng(0)
    left = scenes.make_shape(rng, "square", "red", "left", "large")
    right = scenes.make_shape(rng, "triangle", "blue", "right", "small")
    image = scenes.render([scenes.Scene("white", (left, right))], 64)[0]

    def at(shape):
        # Just below the centre: inside every kind, a triangle's apex included.
        return tuple(image[int((shape.cy + shape.r / 3) * 64), int(shape.cx * 64)])

    assert at(left) == scenes.COLOURS["red"] and at(right) == scenes.COLOURS["blue"]
    assert tuple(image[1, 32]) == scenes.COLOURS["white"]


def test_the_gpu_trainer_uses_the_loops_schedule_and_reproducible_scenes():
    from engine.demo import train_jax
    from engine.schedule import ALPHAS_CUMPROD

    np.testing.assert_allclose(train_jax.alphas_cumprod(), ALPHAS_CUMPROD, rtol=0, atol=1e-6)
    first, again = train_jax._pool_chunk(7, 3, 50), train_jax._pool_chunk(7, 3, 50)
    for key in first:
        np.testing.assert_array_equal(first[key], again[key])
    assert not np.array_equal(first["geometry"], train_jax._pool_chunk(7, 4, 50)["geometry"])
    # The pool renders exactly as the scenes it came from would.
    assert first["ids"].shape == (50, text.SEQUENCE_LENGTH)
    drawn = scenes.render_arrays(first, 32)
    assert drawn.shape == (50, 32, 32, 3) and drawn.min() >= 0 and drawn.max() <= 255


def test_the_gpu_trainers_learning_rate_warms_up_then_decays_to_five_percent():
    from engine.demo.train_jax import learning_rate

    rates = [learning_rate(step, 1000, 100, 1e-3) for step in range(1001)]
    assert rates[0] < rates[50] < rates[100] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(rates[100:], rates[101:]))
    assert rates[1000] == pytest.approx(5e-5)


def test_captions_may_leave_out_colour_and_background_without_changing_the_default_stream():
    # The committed weights' first stage saw exactly this stream; it must stay reproducible.
    rng = np.random.default_rng(0)
    assert [scenes.random_scene(rng).caption for _ in range(3)] == [
        "a red circle at the top and a purple triangle at the bottom, white background",
        "a yellow circle and a red circle, white background",
        "a large orange triangle at the bottom, yellow background",
    ]
    rng = np.random.default_rng(0)
    for _ in range(20):
        scene = scenes.random_scene(rng, say_colour=0.0, say_background=0.0)
        said = set(text.words(scene.caption))
        assert not said & set(scenes.COLOURS) and "background" not in said, scene.caption
        assert {s.kind for s in scene.shapes} <= said


@pytest.mark.parametrize("prompt", ["🦊🦊", "שלום עולם", "猫", "!!!", "with of image"])
def test_a_prompt_with_no_word_the_demo_knows_is_refused(prompt):
    problem = text.vocabulary_problem(prompt)
    assert problem is not None and "knows none of the words" in problem


def test_emoji_and_other_scripts_are_named_as_unknown_words():
    assert text.unknown_words("a red circle 🦊, שלום") == ["🦊", "שלום"]
    assert 'does not know "🦊"' in text.vocabulary_problem("a red circle 🦊")
    assert text.vocabulary_problem("a small red circle on the left, blue background") is None
