"""The numpy noise against TensorFlow's stateless random ops, on many seeds and shapes."""
import numpy as np
import pytest

from engine import noise

tf = pytest.importorskip("tensorflow")

SEEDS = [(0, 0), (1, 0), (42, 0), (2**31 - 3, 0), (2**31 - 2, 1), (2**31 - 1, 2**31 - 1),
         (2**32 - 2, 7), (2**32 - 1, 0), (0, 2**32 - 1), (2**33 + 5, 9), (-1, 0), (-5, -3)]
SEEDS += [(int(a), int(b)) for a, b in zip(np.random.default_rng(1).integers(0, 2**31 - 2, 40),
                                            np.random.default_rng(2).integers(0, 4, 40))]
SHAPES = [(1,), (2,), (3,), (5,), (7,), (3, 5), (13, 11, 3), (1, 16, 16, 4)]


def _tf_seed(seed):
    # As a Python tuple: int32 where both fit, else int64, as callers pass it.
    return tf.constant(seed, dtype=tf.int64) if any(abs(s) >= 2**31 for s in seed) else seed


@pytest.mark.parametrize("seed", SEEDS)
def test_philox_bits_and_uniforms_are_tensorflows_exactly(seed):
    for shape in ((4,), (9,), (3, 7)):
        size = int(np.prod(shape))
        key, first = noise.key_and_counter(seed)
        ours = noise.philox(noise._counters(first, -(-size // 4)), key).reshape(-1)[:size]
        theirs = tf.random.stateless_uniform(shape, _tf_seed(seed), minval=None, maxval=None,
                                             dtype=tf.uint32).numpy().reshape(-1)
        np.testing.assert_array_equal(ours, theirs)
        uniform = tf.random.stateless_uniform(shape, _tf_seed(seed), dtype=tf.float32).numpy().reshape(-1)
        np.testing.assert_array_equal(noise._uniform(ours), uniform)


def test_normal_matches_tensorflow_to_the_last_bits():
    total = differ = 0
    worst_ulp = 0
    for seed in SEEDS:
        for shape in SHAPES:
            ours = noise.philox_normal(shape, seed)
            theirs = tf.random.stateless_normal(shape, seed=_tf_seed(seed), dtype=tf.float32).numpy()
            assert ours.shape == theirs.shape and ours.dtype == np.float32
            ulps = np.abs(ours.view(np.int32).astype(np.int64) - theirs.view(np.int32).astype(np.int64))
            total += ours.size
            differ += int((ulps > 0).sum())
            worst_ulp = max(worst_ulp, int(ulps.max()))
    print(f"numpy vs tf.random.stateless_normal: {differ} of {total} values differ "
          f"({100 * differ / total:.2f}%), by at most {worst_ulp} ulp")
    assert worst_ulp <= 4
    assert differ / total < 0.03


def test_noise_is_a_standard_normal_and_seeds_differ():
    a = noise.philox_normal((1, 64, 64, 4), (42, 0))
    assert abs(a.mean()) < 0.03 and abs(a.std() - 1) < 0.03
    assert not np.array_equal(a, noise.philox_normal((1, 64, 64, 4), (42, 1)))
    assert not np.array_equal(a, noise.philox_normal((1, 64, 64, 4), (43, 0)))
    # A prefix of a longer draw: each block of four values depends only on its counter.
    np.testing.assert_array_equal(noise.philox_normal((10,), (7, 0)), noise.philox_normal((12,), (7, 0))[:10])
