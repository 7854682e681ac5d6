"""Seeded Gaussian noise, the same on every Keras backend.

Every random number the step loop uses (starting noise, and per-step noise for
ancestral samplers) comes from `stateless_normal`, so a seed means one image
whatever framework runs the networks.

The numbers are TensorFlow's stateless normal (what KerasCV's own seeds give).
On TensorFlow they come from TensorFlow itself, so KerasCV's images are
reproduced bit for bit. Elsewhere `philox_normal` computes them in numpy:
Philox4x32-10 counter-based random bits, a key and counter scrambled from the
seed, and a Box-Muller transform of each pair of uniforms (Salmon et al.,
"Parallel random numbers: as easy as 1, 2, 3", 2011; TensorFlow's
philox_random.h, random_distributions.h, stateless_random_ops.cc). The bits and
uniforms are TensorFlow's exactly; TensorFlow takes log, sin and cos from the C
library's float32 functions, which are not correctly rounded, and numpy has no
way to call those, so a few values in a hundred differ from TensorFlow's in the
last bit or two (tests/engine/test_noise.py measures it).
"""
from __future__ import annotations

import math

import numpy as np

from engine import compute, schedule

_M0, _M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)  # Philox4x32 multipliers
_W0, _W1 = 0x9E3779B9, 0xBB67AE85  # key schedule: golden ratio, sqrt(3) - 1
_SEED_KEY = (0x3EC8F720, 0x02461E29)  # TensorFlow's fixed key for scrambling seeds
_ROUNDS = 10
_LOW = np.uint64(0xFFFFFFFF)
_SHIFT = np.uint64(32)


def philox(counters: np.ndarray, key: tuple[int, int]) -> np.ndarray:
    """Philox4x32-10 of each row of uint32 `counters` (N, 4) under `key`: (N, 4) uint32."""
    c = [counters[:, i].astype(np.uint64) for i in range(4)]
    k0, k1 = key
    for round_ in range(_ROUNDS):
        if round_:
            k0, k1 = (k0 + _W0) & 0xFFFFFFFF, (k1 + _W1) & 0xFFFFFFFF
        p0, p1 = _M0 * c[0], _M1 * c[2]
        c = [(p1 >> _SHIFT) ^ c[1] ^ np.uint64(k0), p1 & _LOW,
             (p0 >> _SHIFT) ^ c[3] ^ np.uint64(k1), p0 & _LOW]
    return np.stack(c, axis=1).astype(np.uint32)


def key_and_counter(seed: tuple[int, int]) -> tuple[tuple[int, int], np.ndarray]:
    """TensorFlow's scrambling of a two-number seed into a Philox key and first counter."""
    words = []
    for part in seed:
        part &= 0xFFFFFFFFFFFFFFFF  # a negative seed counts as its two's complement
        words += [part & 0xFFFFFFFF, part >> 32]
    mix = philox(np.array([words], np.uint32), _SEED_KEY)[0]
    return (int(mix[0]), int(mix[1])), np.array([0, 0, mix[2], mix[3]], np.uint32)


def _counters(first: np.ndarray, count: int) -> np.ndarray:
    """`count` consecutive 128-bit counters from `first` (little-endian 32-bit words)."""
    low = int(first[0]) | int(first[1]) << 32
    high = int(first[2]) | int(first[3]) << 32
    steps = np.arange(count, dtype=np.uint64)
    lows = np.uint64(low) + steps  # wraps modulo 2^64
    carry = (lows < np.uint64(low)).astype(np.uint64)
    highs = np.uint64(high) + carry
    return np.stack([lows & _LOW, lows >> _SHIFT, highs & _LOW, highs >> _SHIFT], axis=1).astype(np.uint32)


def _uniform(bits: np.ndarray) -> np.ndarray:
    """uint32 -> float32 in [0, 1): 23 random mantissa bits under exponent 0, minus 1."""
    return ((bits & np.uint32(0x7FFFFF)) | np.uint32(0x3F800000)).view(np.float32) - np.float32(1.0)


def stateless_normal(shape: tuple[int, ...], seed: tuple[int, int]) -> np.ndarray:
    """float32 standard normal noise of `shape`, a pure function of `seed`:
    the values `tf.random.stateless_normal(shape, seed, tf.float32)` gives
    (exactly on TensorFlow, to a bit or two elsewhere)."""
    exact = getattr(compute.current(), "stateless_normal", None)
    return exact(shape, seed) if exact is not None else philox_normal(shape, seed)


def philox_normal(shape: tuple[int, ...], seed: tuple[int, int]) -> np.ndarray:
    """TensorFlow's stateless normal in numpy (see the module's docstring)."""
    size = math.prod(shape)
    key, first = key_and_counter(seed)
    bits = philox(_counters(first, -(-size // 4)), key).reshape(-1)
    u1 = np.maximum(_uniform(bits[0::2]), np.float32(1e-7))
    u2 = _uniform(bits[1::2])
    # float64, then rounded once: the correctly rounded values TensorFlow's C
    # library functions aim at (and nearly always give).
    radius = np.sqrt(np.float32(-2.0) * np.log(u1.astype(np.float64)).astype(np.float32))
    angle = (2.0 * math.pi * u2.astype(np.float64)).astype(np.float32).astype(np.float64)
    out = np.empty(2 * len(u1), np.float32)
    out[0::2] = np.sin(angle).astype(np.float32) * radius
    out[1::2] = np.cos(angle).astype(np.float32) * radius
    return out[:size].reshape(shape)


def initial_noise(seeds: list[int], shape: tuple[int, int, int]) -> np.ndarray:
    """Each image draws its own noise from its own seed, so any image of a batch
    can be regenerated alone at batch size 1."""
    return np.concatenate([stateless_normal((1, *shape), schedule.seed_pair(s)) for s in seeds])


def step_noise(seeds: list[int], shape: tuple[int, int, int], step: int) -> np.ndarray:
    """Fresh noise for step `step` of an ancestral sampler. Each image draws its own
    from its own seed and the step index, so a batch's image i is the same image made
    alone. The step goes in the seed's second word above bit 32, where the starting
    noise's seeds (second word 0..2) never reach."""
    def seed_of(seed: int) -> tuple[int, int]:
        first, second = schedule.seed_pair(seed)
        return first, second + ((step + 1) << 32)
    return np.concatenate([stateless_normal((1, *shape), seed_of(s)) for s in seeds])
