"""A1111's prompt language on KerasCV's text encoder and UNet (random SD 1.4 weights).

The rules themselves (weights, chunks, BREAK, embedding slots) are unit-tested in
test_prompt_syntax.py and test_prompt_chunks.py; here: what the networks make of them.
"""
from __future__ import annotations

import keras
import numpy as np
import pytest

from engine.backends.prompt_encoding import TextOptions
from engine.request import GenerationRequest
from tests.engine.sd_fixtures import SIZE


@pytest.fixture()
def backend(sd_engine):
    backend = sd_engine.loaded_backend()
    yield backend
    backend.set_text_options(TextOptions())


def old_rule(backend, prompt: str) -> np.ndarray:
    """How a prompt was encoded before the prompt language: KerasCV's own token rows."""
    ids = backend.tokenizer.encode(prompt)
    return backend._encode_tokens([ids + [49407] * (77 - len(ids))])


def test_a_plain_prompt_is_encoded_exactly_as_kerascv_encodes_it(backend):
    prompt = "a photograph of a cat, sitting on a chair"
    assert np.array_equal(backend.encode([prompt]), old_rule(backend, prompt))
    # A weight of 1 written out changes nothing, bit for bit.
    assert np.array_equal(backend.encode(["a photograph of a (cat:1.0), sitting on a chair"]),
                          old_rule(backend, prompt))


@pytest.fixture()
def final_norm_shifted(backend):
    """Random weights leave every token's output with a mean of 0 (the final layer norm's
    offset starts at 0), where "keep the mean" divides noise by noise; trained encoders
    have an offset, so the test gives it one."""
    norm = backend.components.text_encoder.layers[-1]
    kept = np.asarray(norm.beta)
    norm.beta.assign(np.full_like(kept, 0.5))
    backend._calls.clear()  # a traced graph may have folded the old value in
    yield
    norm.beta.assign(kept)
    backend._calls.clear()


def test_emphasis_scales_the_weighted_tokens_and_keeps_the_chunk_mean(backend, final_norm_shifted):
    plain = backend.encode(["a red cat on a chair"])[0].astype(np.float64)
    weighted = backend.encode(["a red (cat:1.5) on a chair"])[0].astype(np.float64)
    assert weighted.shape == plain.shape == (77, 768)
    assert weighted.mean() == pytest.approx(plain.mean(), rel=1e-5)
    cat = backend.tokenizer.encode("a red cat on a chair").index(backend.tokenizer.encode("cat")[1])
    others = [i for i in range(77) if i != cat]
    # One rescale for the chunk, and the cat's row 1.5 times the others' share of it.
    scale = plain.mean() / (plain.mean() + 0.5 * plain[cat].mean() / 77)
    np.testing.assert_allclose(weighted[others], plain[others] * scale, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(weighted[cat], plain[cat] * 1.5 * scale, rtol=1e-4, atol=1e-5)


def test_a_long_prompt_becomes_chunks_of_77_and_the_unet_takes_them(sd_engine, backend):
    long = ", ".join(f"detail {i}" for i in range(20))  # the test vocabulary spells it out
    used, capacity = backend.prompt_length(long)
    assert used > 150 and capacity % 75 == 0
    context = backend.encode([long])
    assert context.shape == (1, 77 * (capacity // 75), 768)
    # Each chunk is encoded on its own: the first is what its tokens alone give (the
    # chunks run as one batch, which rounds a little differently from a batch of one).
    first = backend.prompts.chunks(long)[0]
    alone = backend._encode_tokens([list(first.tokens)])
    np.testing.assert_allclose(context[:, :77], alone, rtol=1e-5, atol=1e-5)
    # The negative prompt is shorter: it is padded with the empty prompt's chunk.
    result = sd_engine.generate(GenerationRequest(long, "blurry", steps=1, width=SIZE, height=SIZE,
                                                  model="sd-v1.4", preview=False))
    assert len(result.images) == 1 and np.isfinite(result.images[0].pixels).all()


def test_break_starts_a_new_chunk(backend):
    assert backend.encode(["a cat BREAK a dog"]).shape == (1, 154, 768)


def test_clip_skip_reads_the_layer_before_last_through_the_final_norm(backend):
    encoder = backend.components.text_encoder
    layers = [layer for layer in encoder.layers if type(layer).__name__ == "CLIPEncoderLayer"]
    # Independently of our stack: the encoder's own graph, cut after layer 11 of 12.
    reference = keras.Model(encoder.inputs, encoder.layers[-1](layers[-2].output))
    ids = backend.tokenizer.encode("a castle on a hill")
    tokens = np.asarray([ids + [49407] * (77 - len(ids))], np.int32)
    expected = np.asarray(reference({"tokens": tokens, "positions": np.arange(77, dtype=np.int32)[None]}))
    backend.set_text_options(TextOptions(clip_skip=2))
    skipped = backend.encode(["a castle on a hill"])
    np.testing.assert_allclose(skipped, expected, rtol=1e-4, atol=1e-4)
    assert np.abs(skipped - old_rule(backend, "a castle on a hill")).max() > 1e-2
    # The empty prompt (no negative) is read at the same layer.
    np.testing.assert_allclose(backend.unconditional(1), backend.encode([""]), rtol=0, atol=0)


def test_an_embedding_fills_its_slots_with_its_vectors(backend):
    """An embedding made of the token vectors of "red ball" reads as "red ball" does."""
    embedding = next(layer for layer in backend.components.text_encoder.layers
                     if type(layer).__name__ == "CLIPEmbedding")
    table = embedding.token_embedding.embeddings
    ids = backend.tokenizer.encode("red ball")[1:-1]
    vectors = np.asarray(keras.ops.take(table, np.asarray(ids), axis=0))
    backend.set_text_options(TextOptions(embeddings={"myball": vectors}))
    chunk = backend.prompts.chunks("a myball on grass")[0]
    assert chunk.used == len(backend.tokenizer.encode("a red ball on grass")) - 2
    np.testing.assert_allclose(backend.encode(["a myball on grass"]),
                               old_rule(backend, "a red ball on grass"), rtol=1e-4, atol=1e-4)


def test_clip_skip_leaves_sd2_alone_as_a1111_does(backend, monkeypatch):
    """A1111 reads SD 2.x's encoder at its own layer before last whatever Clip skip says."""
    backend.use_networks((), clip_skip=2)
    assert backend.prompts.options.clip_skip == 2
    monkeypatch.setattr(backend, "family", "sd-v2")
    backend.use_networks((), clip_skip=2)
    assert backend.prompts.options.clip_skip == 1
