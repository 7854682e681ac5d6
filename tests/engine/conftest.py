import pytest

from tests.engine.sd_fixtures import SIZE, write_random_weights


@pytest.fixture(scope="session")
def sd_weights(tmp_path_factory):
    """(folder, fingerprint) of random sd-v1.4 weights in KerasCV's file format."""
    folder = tmp_path_factory.mktemp("sd-weights")
    fingerprint = write_random_weights(folder)
    import gc
    gc.collect()
    return folder, fingerprint


@pytest.fixture(scope="session")
def sd_engine(sd_weights):
    """The one built Stable Diffusion of the session, loaded from those files."""
    from engine.pipeline import Engine
    from engine.request import GenerationRequest

    engine = Engine(weights_dir=sd_weights[0])
    # Build once here so tests share it; 1 step is enough to load everything.
    engine.generate(GenerationRequest("warm up", steps=1, width=SIZE, height=SIZE,
                                      model="sd-v1.4", preview=False))
    yield engine
    engine.release()


@pytest.fixture()
def small_request():
    from engine.request import GenerationRequest
    # DDIM: the tests that compare with KerasCV's own images need its one sampler.
    return GenerationRequest("a photograph of a cat", seed=42, steps=3, width=SIZE,
                             height=SIZE, model="sd-v1.4", preview=False, sampler="ddim")


@pytest.fixture(scope="session")
def checkpoint_files(tmp_path_factory):
    """family -> a random-weight float16 checkpoint in the original layout, written once
    per session (about 2 GB each, 20-30 s to write)."""
    from engine.models.random_checkpoint import write_random_checkpoint

    folder = tmp_path_factory.mktemp("checkpoints")
    return {family: write_random_checkpoint(folder / f"{family}.safetensors", family, seed=5)
            for family in ("sd-v1", "sd-v2")}
