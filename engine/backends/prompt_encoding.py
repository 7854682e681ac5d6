"""A prompt in A1111's language -> the UNet's context, on KerasCV's text encoders.

The prompt's own rules (weights, chunks of 75, BREAK, embedding slots) live in
engine/prompts; this module runs the networks on what they produce:

- each chunk of 77 tokens is encoded on its own and the chunks are joined along the
  token axis, so a 150-token prompt gives a (1, 154, width) context;
- a chunk's weights scale its tokens' outputs, then the chunk is rescaled to keep its
  original mean (A1111's default "Original" emphasis);
- clip skip takes the hidden states that many layers before the end, through the
  encoder's final layer norm;
- textual-inversion vectors replace the token embeddings of their slots.

A plain prompt (one chunk, weights 1, no embedding, clip skip 1) takes KerasCV's own
encoder call, so its context stays bit for bit what KerasCV gives.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import keras
import numpy as np

from engine.prompts.counting import prompt_length
from engine.prompts.chunks import Chunk, EmbeddingSlot, TokenIds, chunk_prompt
from engine.prompts.syntax import parse_weights, take_networks

CONTEXT_TOKENS = 77  # one chunk: start, 75, end
PAD = 49407  # CLIP's end-of-text id, which KerasCV pads every prompt with


@dataclass(frozen=True, eq=False)  # arrays inside: no value equality
class TextOptions:
    """What a request sets about its text encoding beyond the prompt itself."""
    clip_skip: int = 1
    # Textual-inversion vectors by the name written in the prompt, (n, width) each:
    # only those of this model's width (the pipeline refuses the others).
    embeddings: Mapping[str, np.ndarray] = field(default_factory=dict)


class PromptEncoder:
    """`call(model, inputs)`: the backend's compiled call of a network."""

    def __init__(self, text_encoder: keras.Model, tokenizer,
                 call: Callable[[keras.Model, object], np.ndarray]):
        """`tokenizer`: KerasCV's SimpleTokenizer (or one with its `encode` and ids)."""
        self.text_encoder = text_encoder
        self._tokenize_with_ends = tokenizer.encode
        # Padding is KerasCV's constant whatever the vocabulary, as its own pipeline pads.
        self._ids = TokenIds(start=tokenizer.start_of_text, end=tokenizer.end_of_text, pad=PAD)
        self._call = call
        self._stacks: dict[int, keras.Model] = {}
        self.options = TextOptions()

    # The encoder's parts by KerasCV's class names, looked up when clip skip or an
    # embedding first needs them (a plain prompt needs only the whole encoder).
    @property
    def _layers(self) -> list:
        return [layer for layer in self.text_encoder.layers if type(layer).__name__ == "CLIPEncoderLayer"]

    @property
    def _embedding_layer(self):
        return next(layer for layer in self.text_encoder.layers if type(layer).__name__ == "CLIPEmbedding")

    def tokenize(self, text: str) -> list[int]:
        return self._tokenize_with_ends(text)[1:-1]  # chunks add their own start and end

    def chunks(self, prompt: str) -> list[Chunk]:
        text, _networks = take_networks(prompt)  # the pipeline applies the networks
        counts = {name: len(vectors) for name, vectors in self.options.embeddings.items()}
        return chunk_prompt(parse_weights(text), self.tokenize, counts, self._ids)

    def count(self, prompt: str) -> tuple[int, int]:
        """A1111's counter: (tokens used, capacity of the chunks they fill)."""
        counts = {name: len(vectors) for name, vectors in self.options.embeddings.items()}
        return prompt_length(prompt, self.tokenize, counts)

    def encode(self, prompt: str) -> np.ndarray:
        """(1, 77 x chunks, width)."""
        chunks = self.chunks(prompt)
        encoded = self._encode_chunks(chunks)
        weighted = [_emphasised(z, chunk.weights) for z, chunk in zip(encoded, chunks)]
        return np.concatenate(weighted, axis=0)[None]

    def _encode_chunks(self, chunks: Sequence[Chunk]) -> np.ndarray:
        plain = self.options.clip_skip == 1 and not any(
            isinstance(token, EmbeddingSlot) for chunk in chunks for token in chunk.tokens)
        if plain:
            tokens = np.asarray([chunk.tokens for chunk in chunks], np.int32)
            positions = np.repeat(np.arange(CONTEXT_TOKENS, dtype=np.int32)[None], len(chunks), 0)
            return np.asarray(self._call(self.text_encoder, {"tokens": tokens, "positions": positions}))
        vectors = np.stack([self._input_vectors(chunk) for chunk in chunks])
        return np.asarray(self._call(self._stack(self.options.clip_skip), vectors))

    def _input_vectors(self, chunk: Chunk) -> np.ndarray:
        """What KerasCV's CLIPEmbedding gives, with embedding vectors in their slots."""
        ids = [0 if isinstance(token, EmbeddingSlot) else token for token in chunk.tokens]
        tokens = keras.ops.convert_to_numpy(keras.ops.take(
            self._embedding_layer.token_embedding.embeddings, np.asarray(ids, np.int32), axis=0))
        tokens = np.array(tokens, np.float32)
        for i, token in enumerate(chunk.tokens):
            if isinstance(token, EmbeddingSlot):
                tokens[i] = self.options.embeddings[token.name][token.index]
        positions = keras.ops.convert_to_numpy(
            self._embedding_layer.position_embedding.embeddings)[:CONTEXT_TOKENS]
        return tokens + np.asarray(positions, np.float32)

    def _stack(self, clip_skip: int) -> keras.Model:
        """The encoder from its input vectors to the layer `clip_skip` from the end, then
        its final layer norm: the same layer objects, so the same (LoRA'd) weights."""
        if clip_skip not in self._stacks:
            final_norm = self.text_encoder.layers[-1]
            vectors = keras.Input((CONTEXT_TOKENS, self.text_encoder.output_shape[-1]), name="vectors")
            x = vectors
            for layer in self._layers[:len(self._layers) - clip_skip + 1]:
                x = layer(x)
            self._stacks[clip_skip] = keras.Model(vectors, final_norm(x),
                                                  name=f"text_encoder_skip_{clip_skip}")
        return self._stacks[clip_skip]


def _emphasised(z: np.ndarray, weights: Sequence[float]) -> np.ndarray:
    """A1111's "Original" emphasis on one chunk (77, width); weights of 1 change nothing."""
    if all(w == 1.0 for w in weights):
        return z
    dtype = z.dtype
    z = np.asarray(z, np.float32)
    original_mean = z.mean()
    z = z * np.asarray(weights, np.float32)[:, None]
    return (z * (original_mean / z.mean())).astype(dtype)
