"""Networks built to take a file's weights: no random values drawn, the same network once
the weights are in."""
import keras
import numpy as np

from engine.backends.built_for_loading import built_for_loading


def small_model() -> keras.Model:
    inputs = keras.Input((6,))
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    hidden = keras.layers.LayerNormalization()(hidden)
    hidden = keras.layers.Dropout(0.5)(hidden)  # a seed generator's state, not a weight
    return keras.Model(inputs, keras.layers.Dense(3)(hidden))


def test_its_weights_are_zeros_until_loaded_then_it_computes_as_a_normal_build():
    trained = small_model()
    waiting = built_for_loading(small_model)
    assert [w.shape for w in waiting.weights] == [w.shape for w in trained.weights]
    assert all(not np.any(np.asarray(w)) for w in waiting.weights)
    waiting.set_weights(trained.get_weights())
    x = np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32)
    assert np.any(trained.predict_on_batch(x))
    np.testing.assert_array_equal(waiting.predict_on_batch(x), trained.predict_on_batch(x))


def test_variables_made_later_are_initialised_as_usual():
    built_for_loading(small_model)
    fresh = keras.layers.Dense(4)
    fresh.build((None, 5))
    assert np.any(np.asarray(fresh.kernel))  # random again, outside the build
