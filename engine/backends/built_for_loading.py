"""Networks built to take a file's weights next, without drawing random initial values
that the file would overwrite.

Keras gives every new variable its initializer's random values. For a model whose weights
are read from a file straight after, that is wasted work, and on JAX on a CPU it is most of
the build: its random number generator is slow there (building SD 1.x's UNet at 128x128 on
this 2-core machine took 65 s with random values, 16 s without). The variables are created
without values (Keras's stateless scope defers them) and then filled with zeros, which
every backend makes at memory speed; a weight the file does not cover would therefore be
zero, not random, which the checkpoint tests look for.
"""
from __future__ import annotations

from typing import Callable, TypeVar

import keras

Model = TypeVar("Model", bound=keras.Model)


def built_for_loading(build: Callable[[], Model]) -> Model:
    from keras.src.backend.common.variables import initialize_all_variables

    with keras.StatelessScope(initialize_variables=False):
        model = build()
    zeros = keras.initializers.Zeros()
    for variable in model.weights:
        # Set while the variable waits for its value: only this model's weights get zeros;
        # anything else made meanwhile (a seed generator's state) keeps its own initializer.
        if getattr(variable, "_initializer", None) is not None:
            variable._initializer = zeros
    initialize_all_variables()
    return model
