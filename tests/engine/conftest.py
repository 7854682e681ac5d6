import pytest

from tests.engine.sd_fixtures import SIZE, cached_random_weights, cache_folder


@pytest.fixture(scope="session")
def sd_weights(tmp_path_factory):
    """(folder, fingerprint) of random sd-v1.4 weights in KerasCV's file format: this
    session's own folder, holding links to (or copies of) the cached files."""
    import os
    import shutil

    cached, fingerprint = cached_random_weights()
    folder = tmp_path_factory.mktemp("sd-weights")
    for item in cached.iterdir():
        if item.suffix != ".json":
            try:
                os.link(item, folder / item.name)
            except OSError:  # the cache on another file system
                shutil.copyfile(item, folder / item.name)
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
def checkpoint_files():
    """family -> a random-weight float16 checkpoint in the original layout (about 2 GB each,
    20-30 s to write). Kept in a cache folder keyed by what makes its content (the layout,
    the writer's code, the seed), so later runs on this machine, CI's included, reuse it;
    SD_DESK_TEST_CACHE moves the folder."""
    import hashlib
    import os
    from pathlib import Path

    from engine.models import ldm_layout, random_checkpoint
    from engine.models.random_checkpoint import write_random_checkpoint

    folder = cache_folder()
    recipe = hashlib.sha256(Path(ldm_layout.__file__).read_bytes()
                            + Path(random_checkpoint.__file__).read_bytes()).hexdigest()[:12]
    files = {}
    for family in ("sd-v1", "sd-v2"):
        path = folder / family / f"{family}-{recipe}-seed5.safetensors"  # one file per folder:
        if not path.exists():  # a folder scanned for checkpoints sees only this family's
            path.parent.mkdir(exist_ok=True)
            for stale in path.parent.glob("*.safetensors"):
                stale.unlink()
            partial = path.with_name(f"{path.name}.{os.getpid()}.part")  # runs at once: their own
            write_random_checkpoint(partial, family, seed=5)
            partial.replace(path)
        files[family] = path
    return files
