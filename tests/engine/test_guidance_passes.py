"""Guidance 1 (and 0) needs one network pass per step, not two: counted on the demo model."""
import numpy as np
import pytest

from engine.request import GenerationRequest
from engine.sampler import sample

SIZE = 128
STEPS = 6


@pytest.fixture(scope="module")
def demo():
    from engine.demo.backend import load_demo_backend
    return load_demo_backend(SIZE, SIZE)


class _Counted:
    """The backend, counting its network calls and the rows (images) they evaluate."""

    def __init__(self, backend):
        self._backend, self.calls, self.rows, self.encoded = backend, 0, 0, []

    def __getattr__(self, name):
        return getattr(self._backend, name)

    def encode(self, prompts):
        self.encoded += prompts
        return self._backend.encode(prompts)

    def denoise(self, latent, timestep, context):
        self.calls += 1
        self.rows += len(latent)
        return self._backend.denoise(latent, timestep, context)


def _request(guidance, batch=1, sampler="dpmpp-2m"):
    return GenerationRequest(prompt="a large red circle on the left, blue background", seed=4,
                             steps=STEPS, sampler=sampler, batch=batch, guidance=guidance,
                             width=SIZE, height=SIZE, model="demo", preview=False)


@pytest.mark.parametrize("batched", [True, False])
def test_guidance_1_evaluates_the_network_half_as_often(demo, batched):
    counts = {}
    for guidance in (7.5, 1.0, 0.0):
        counted = _Counted(demo)
        sample(counted, _request(guidance, batch=2), batched_guidance=batched)
        counts[guidance] = (counted.calls, counted.rows)
    two_passes = (STEPS if batched else 2 * STEPS, 2 * 2 * STEPS)
    assert counts[7.5] == two_passes
    assert counts[1.0] == counts[0.0] == (STEPS, 2 * STEPS)


# The smallest float above the value: the same guidance once in float32, but not the
# exact 1 or 0 that the loop recognises, so it runs both passes and blends them.
@pytest.mark.parametrize("guidance", [1.0, 0.0])
def test_one_pass_gives_the_two_pass_image(demo, guidance):
    one = sample(demo, _request(guidance))
    two = sample(demo, _request(float(np.nextafter(guidance, 2.0))))
    np.testing.assert_allclose(one.latent, two.latent, atol=1e-4)
    assert np.abs(one.images.astype(int) - two.images.astype(int)).max() <= 1
    # The prompt matters, so guidance 1 and 0 really are different single passes.
    assert np.abs(one.latent - sample(demo, _request(1.0 - guidance)).latent).mean() > 0.01


def test_a_single_pass_encodes_only_the_prompt_it_reads(demo):
    encoded = {}
    for guidance in (7.5, 1.0, 0.0):
        counted = _Counted(demo)
        sample(counted, _request(guidance).replace(negative_prompt="green"))
        encoded[guidance] = counted.encoded
    prompt = _request(1.0).prompt
    assert encoded == {7.5: [prompt, "green"], 1.0: [prompt], 0.0: ["green"]}
