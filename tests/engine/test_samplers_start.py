"""Where image to image enters a sampler's schedule, and what `noised` gives there."""
from __future__ import annotations

import numpy as np
import pytest

from engine import samplers
from engine.samplers.base import first_step


def test_first_step_runs_the_last_strength_share_of_the_schedule():
    assert first_step(20, 1.0) == 0
    assert first_step(20, 0.75) == 5
    assert first_step(20, 0.0) == 20
    assert first_step(20, 0.01) == 19  # any strength above 0 runs at least one step
    assert first_step(1, 0.3) == 0


@pytest.mark.parametrize("name", samplers.IDS)
def test_noised_runs_from_nearly_pure_noise_to_the_clean_latent(name):
    rng = np.random.default_rng(0)
    clean = rng.uniform(-1, 1, (1, 8, 8, 4)).astype(np.float32)
    noise = rng.standard_normal((1, 8, 8, 4)).astype(np.float32)
    method = samplers.create(name, 10, [1])
    assert np.array_equal(method.noised(clean, noise, 10), clean)
    # Each step's latent holds less noise than the one before.
    residues = [float(np.abs(method.noised(clean, noise, i) - clean).mean()) for i in range(11)]
    assert all(a > b for a, b in zip(residues, residues[1:]))


def test_ddim_noised_is_the_training_latent_at_its_timestep():
    from engine import schedule
    clean = np.full((1, 2, 2, 4), 0.5, np.float32)
    noise = np.ones((1, 2, 2, 4), np.float32)
    method = samplers.create("ddim", 10)
    a = schedule.ALPHAS_CUMPROD[method.timestep(3)]
    np.testing.assert_allclose(method.noised(clean, noise, 3), np.sqrt(a) * 0.5 + np.sqrt(1 - a), rtol=1e-6)
