"""The Engine front door: loading real-format files, errors people see, results."""
from pathlib import Path

import numpy as np
import pytest

from engine.events import CancelToken
from engine.errors import InvalidRequest, MissingWeights, OutOfMemory
from tests.engine.sd_fixtures import weight_fingerprint


def test_weights_load_from_kerascv_files_in_a_user_folder(sd_engine, sd_weights):
    _, fingerprint = sd_weights
    components = sd_engine._backend.components
    assert weight_fingerprint(components.text_encoder) == fingerprint["text_encoder"]
    assert weight_fingerprint(components.diffusion_model) == fingerprint["diffusion_model"]
    assert weight_fingerprint(components.decoder) == fingerprint["decoder"]


def test_result_records_custom_weights_seeds_and_timings(sd_engine, small_request):
    result = sd_engine.generate(small_request.replace(batch=2, seed=2**32 - 1))
    assert not result.cancelled
    assert result.model_label == "sd-v1.4 (custom, unverified)"
    assert [image.seed for image in result.images] == [2**32 - 1, 0]
    assert all(image.pixels.shape == (128, 128, 3) for image in result.images)
    assert {"loading", "encoding", "denoising", "decoding"} <= set(result.timings)
    assert result.device == sd_engine.device_name()


def test_cancel_returns_a_cancelled_result_without_images(sd_engine, small_request):
    token = CancelToken()
    phases = []

    def on_progress(progress):
        phases.append(progress.phase)
        if progress.phase == "denoising":
            token.cancel()

    result = sd_engine.generate(small_request.replace(steps=10), on_progress, token)
    assert result.cancelled and result.images == []
    assert phases.count("denoising") == 1 and "decoding" not in phases


def test_emoji_prompt_is_generated(sd_engine, small_request):
    result = sd_engine.generate(small_request.replace(prompt="a 🐱 in a 🎩, «très» chic", steps=1))
    assert len(result.images) == 1


def test_a_prompt_over_77_tokens_is_read_in_chunks_not_refused(sd_engine, small_request):
    from engine.prompt_rules import prompt_problems, rules_of
    rules = rules_of(sd_engine.loaded_backend())
    assert rules.token_limit is None
    assert prompt_problems(small_request.replace(prompt="cat " * 100), rules) == []
    used, capacity = sd_engine.prompt_length("sd-v1.4", "cat " * 100)
    assert used >= 100 and capacity == 75 * -(-used // 75)  # no commas: full chunks of 75


def test_count_tokens_uses_the_models_tokenizer(sd_engine):
    assert sd_engine.count_tokens("sd-v1.4", "cat") == 3


def test_unknown_model_is_a_request_problem(sd_engine, small_request):
    with pytest.raises(InvalidRequest) as caught:
        sd_engine.generate(small_request.replace(model="sd-v9"))
    assert "sd-v9" in str(caught.value) and "sd-v1.4" in str(caught.value)


def test_missing_files_are_each_named_with_where_they_were_looked_for(tmp_path, small_request):
    from engine.pipeline import Engine

    (tmp_path / "kcv_decoder.h5").write_bytes(b"not really")
    with pytest.raises(MissingWeights) as caught:
        Engine(weights_dir=tmp_path).generate(small_request)
    message = str(caught.value)
    for name in ("kcv_encoder.h5", "kcv_diffusion_model.h5", "bpe_simple_vocab_16e6.txt.gz"):
        assert name in message
    assert "kcv_decoder.h5" not in message
    assert str(tmp_path) in message


def test_missing_files_in_the_default_folders_are_reported(small_request, monkeypatch, tmp_path):
    from engine.pipeline import Engine

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("SD_DESK_MODELS_DIR", str(tmp_path / "models"))
    with pytest.raises(MissingWeights) as caught:
        Engine().generate(small_request.replace(model="sd-v2.1"))
    message = str(caught.value)
    assert "text_encoder_v2_1.h5" in message and "diffusion_model_v2_1.h5" in message
    assert str(tmp_path / "keras" / "datasets") in message and str(tmp_path / "models") in message


def test_out_of_memory_is_reported_and_the_model_unloaded(small_request, monkeypatch):
    import tensorflow as tf

    from engine.pipeline import Engine

    class Exhausted:
        label, max_tokens = "fake", 77

        def count_tokens(self, text):
            return 3

        def unknown_words(self, text):
            return []

        def encode(self, prompts):
            raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor")

    engine = Engine(random_weights=True)
    monkeypatch.setattr(engine, "_backend_for", lambda spec, request: Exhausted())
    engine._backend = Exhausted()
    with pytest.raises(OutOfMemory) as caught:
        engine.generate(small_request.replace(batch=8))
    assert "8 image(s) at 128x128" in str(caught.value)
    assert engine._backend is None


def test_a_damaged_file_in_the_keras_cache_is_refused_before_loading(small_request, monkeypatch, tmp_path):
    from engine.errors import EngineError
    from engine.models.registry import get_model
    from engine.pipeline import Engine

    cache = tmp_path / "keras" / "datasets"
    cache.mkdir(parents=True)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("SD_DESK_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("SD_DESK_DATA_DIR", str(tmp_path / "data"))
    for weight_file in get_model("sd-v1.4").files:
        (cache / weight_file.name).write_bytes(b"truncated download")
    with pytest.raises(EngineError) as caught:
        Engine().generate(small_request)
    assert "kcv_encoder.h5" in str(caught.value)
    assert "corrupt" in str(caught.value).lower() or "damaged" in str(caught.value).lower()
