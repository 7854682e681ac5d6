"""What the engine rebuilds when a request changes model, size, precision or XLA."""
import gc
import weakref

import pytest

from engine.models.registry import get_model
from engine.request import GenerationRequest


class FakeModel:
    def __init__(self):
        self.jit_compile = None

    def compile(self, jit_compile):
        self.jit_compile = jit_compile


class FakeComponents:
    built = []

    def __init__(self, spec, width, height, random_init=True):
        self.spec, self.size = spec.id, (width, height)
        self.copied_from = None
        self.text_encoder, self.diffusion_model, self.decoder = FakeModel(), FakeModel(), FakeModel()
        gc.collect()
        self.held_while_built = [ref() is not None for ref in FakeComponents.built]
        FakeComponents.built.append(weakref.ref(self))

    def copy_from(self, other):
        self.copied_from = other.size

    def compile_xla(self, on=True):
        for model in (self.text_encoder, self.diffusion_model, self.decoder):
            model.compile(jit_compile=on)

    def load(self, paths):
        raise AssertionError("random weights are never loaded from disk")


@pytest.fixture()
def engine(monkeypatch):
    from engine.backends import keras_sd
    from engine.pipeline import Engine

    FakeComponents.built = []
    monkeypatch.setattr(keras_sd, "Components", FakeComponents)
    return Engine(random_weights=True)


def backend_for(engine, **changes):
    request = GenerationRequest("a cat", width=128, height=128, model="sd-v1.4").replace(**changes)
    return engine._backend_for(get_model(request.model), request)


def test_same_settings_reuse_the_built_model(engine):
    first = backend_for(engine)
    assert backend_for(engine) is first
    assert len(FakeComponents.built) == 1


def test_new_size_copies_weights_in_memory_and_frees_the_old_size(engine):
    backend_for(engine)
    resized = backend_for(engine, width=192)
    assert resized.components.size == (192, 128)
    assert resized.components.copied_from == (128, 128)
    gc.collect()
    assert FakeComponents.built[0]() is None, "the 128x128 model is still held"


def test_new_precision_or_model_builds_afresh(engine):
    backend_for(engine)
    mixed = backend_for(engine, mixed_precision=True)
    assert mixed.components.copied_from is None
    other = backend_for(engine, model="sd-v2.1", mixed_precision=True)
    assert other.components.spec == "sd-v2.1" and other.components.copied_from is None
    del mixed
    gc.collect()
    assert [ref() is None for ref in FakeComponents.built] == [True, True, False]


def test_another_model_is_built_after_the_old_one_is_freed(engine):
    """Two models at once were one too many for a 24 GB machine: a batch switching from a
    checkpoint to KerasCV's files was killed for memory while the old model was still held."""
    backend_for(engine)
    other = backend_for(engine, model="sd-v2.1")
    assert other.components.held_while_built == [False]


def test_xla_switch_recompiles_without_rebuilding(engine):
    plain = backend_for(engine)
    compiled = backend_for(engine, xla=True)
    assert compiled is plain
    assert plain.components.diffusion_model.jit_compile is True
    backend_for(engine, xla=False)
    assert plain.components.diffusion_model.jit_compile is False
    assert len(FakeComponents.built) == 1


def test_the_dtype_policy_is_set_in_the_calling_thread(engine):
    import threading

    import keras

    seen = {}

    def worker():
        backend_for(engine, mixed_precision=True)
        seen["worker"] = keras.config.dtype_policy().name

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen["worker"] == "mixed_float16"
    assert keras.config.dtype_policy().name == "float32"
