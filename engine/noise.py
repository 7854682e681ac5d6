"""Seeded Gaussian noise, the same on every Keras backend.

Every random number the step loop uses (starting noise, and per-step noise for
ancestral samplers) comes from `stateless_normal`, so a seed means one image
whatever framework runs the networks.
"""
from __future__ import annotations

import numpy as np

from engine import schedule


def stateless_normal(shape: tuple[int, ...], seed: tuple[int, int]) -> np.ndarray:
    """float32 standard normal noise of `shape`, a pure function of `seed`:
    the values `tf.random.stateless_normal(shape, seed, tf.float32)` gives."""
    import tensorflow as tf
    return tf.random.stateless_normal(shape, seed=seed, dtype=tf.float32).numpy()


def initial_noise(seeds: list[int], shape: tuple[int, int, int]) -> np.ndarray:
    """Each image draws its own noise from its own seed, so any image of a batch
    can be regenerated alone at batch size 1."""
    return np.concatenate([stateless_normal((1, *shape), schedule.seed_pair(s)) for s in seeds])
