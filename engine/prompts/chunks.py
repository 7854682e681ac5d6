"""A weighted prompt cut into the 77-token pieces CLIP's text encoder reads, by A1111's
rules (`tokenize_line` in its sd_hijack_clip.py): 75 tokens of text per chunk between the
start and end tokens, a long prompt cut after a comma near the end rather than mid-phrase,
BREAK ending a chunk early, and textual-inversion embeddings written by name.

One difference, a fix: when the comma rule moves tokens on to the next chunk, an
embedding's vectors among them move too (A1111 leaves them at their old place).
"""
from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Callable, Mapping, Optional, Sequence, Union

from engine.prompts.syntax import BREAK, PromptSyntaxError

CHUNK_TOKENS = 75

Tokenize = Callable[[str], list[int]]


@dataclass(frozen=True)
class EmbeddingSlot:
    """Where one vector of a textual-inversion embedding goes in place of a token."""
    name: str   # the embedding's name
    index: int  # which of its vectors


Token = Union[int, EmbeddingSlot]


@dataclass(frozen=True)
class Chunk:
    tokens: tuple[Token, ...]   # 77: start, the text, end, then padding
    weights: tuple[float, ...]  # 77: each text token's weight, 1.0 at start, end and padding
    used: int                   # text tokens in this chunk (an embedding's vectors count one each)


@dataclass(frozen=True)
class TokenIds:
    """The tokenizer's special ids (CLIP's)."""
    start: int = 49406
    end: int = 49407
    pad: int = 49407  # KerasCV and A1111's SD 1.x pad with the end token


_NO_EMBEDDINGS: Mapping[str, int] = MappingProxyType({})


def chunk_prompt(fragments: Sequence[tuple[str, float]], tokenize: Tokenize,
                 embeddings: Mapping[str, int] = _NO_EMBEDDINGS, ids: TokenIds = TokenIds(),
                 comma_backtrack: int = 20) -> list[Chunk]:
    """The chunks of a prompt parsed by `syntax.parse_weights`, by A1111's rules:

    - each fragment is tokenized on its own and its tokens carry its weight;
    - a chunk holds 75 tokens; when one is full and its last comma is at most
      `comma_backtrack` tokens from its end, the tokens after that comma move to the next
      chunk (0 turns this off);
    - the BREAK fragment ends the chunk (padded) even when it is not full;
    - an embedding's name (a key of `embeddings`, which gives its number of vectors) is
      found in a fragment's tokens, the longest name first, and replaced by one
      `EmbeddingSlot` per vector, each with the fragment's weight; an embedding that does
      not fit in the rest of a chunk starts the next one;
    - an empty prompt gives one chunk of start, padding and end.

    `tokenize(text)` returns the text's ids WITHOUT start and end tokens: KerasCV's
    `SimpleTokenizer.encode` adds them, so the caller strips them (`encode(text)[1:-1]`).
    The comma is `tokenize(",")[0]`.
    """
    return _Chunker(tokenize, embeddings, ids, comma_backtrack).run(fragments)[0]


def token_count(fragments: Sequence[tuple[str, float]], tokenize: Tokenize,
                embeddings: Mapping[str, int] = _NO_EMBEDDINGS, ids: TokenIds = TokenIds(),
                comma_backtrack: int = 20) -> tuple[int, int]:
    """(used, capacity) as A1111's counter shows "used/capacity": every chunk but the last
    counts 75 (padding left by BREAK or the comma rule included), the last its text tokens;
    the capacity is 75 per chunk."""
    chunks, used = _Chunker(tokenize, embeddings, ids, comma_backtrack).run(fragments)
    return used, CHUNK_TOKENS * len(chunks)


@dataclass(frozen=True)
class _Name:
    tokens: tuple[int, ...]
    embedding: str
    vectors: int


class _Chunker:
    def __init__(self, tokenize: Tokenize, embeddings: Mapping[str, int], ids: TokenIds,
                 comma_backtrack: int):
        self.tokenize = tokenize
        self.ids = ids
        self.comma_backtrack = comma_backtrack
        comma = tokenize(",")
        self.comma: Optional[int] = comma[0] if comma else None
        self.names = _names_by_first_token(embeddings, tokenize)

    def run(self, fragments: Sequence[tuple[str, float]]) -> tuple[list[Chunk], int]:
        self.chunks: list[Chunk] = []
        self.counted = 0
        self.content: list[Token] = []
        self.weights: list[float] = []
        self.last_comma = -1  # where in `content` the last comma is; -1: none
        for text, weight in fragments:
            if (text, weight) == BREAK:
                self.close()
            elif text:
                self.add(self.tokenize(text), weight)
        if self.content or not self.chunks:
            self.close(last=True)
        return self.chunks, self.counted

    def add(self, tokens: list[int], weight: float) -> None:
        position = 0
        while position < len(tokens):
            token = tokens[position]
            if token == self.comma:
                self.last_comma = len(self.content)
            elif self.full() and self.comma_near_end():
                self.move_after_comma()
            if self.full():
                self.close()
            name = self.name_at(tokens, position)
            if name is None:
                self.content.append(token)
                self.weights.append(weight)
                position += 1
                continue
            if not 0 < name.vectors <= CHUNK_TOKENS:
                raise PromptSyntaxError(
                    f"The embedding '{name.embedding}' has {name.vectors} vectors, and a prompt chunk "
                    f"holds 1 to {CHUNK_TOKENS}: remove its name from the prompt.")
            if len(self.content) + name.vectors > CHUNK_TOKENS:
                self.close()
            self.content.extend(EmbeddingSlot(name.embedding, index) for index in range(name.vectors))
            self.weights.extend([weight] * name.vectors)
            position += len(name.tokens)

    def full(self) -> bool:
        return len(self.content) == CHUNK_TOKENS

    def comma_near_end(self) -> bool:
        return (self.comma_backtrack > 0 and self.last_comma != -1
                and len(self.content) - self.last_comma <= self.comma_backtrack)

    def move_after_comma(self) -> None:
        cut = self.last_comma + 1
        moved, moved_weights = self.content[cut:], self.weights[cut:]
        del self.content[cut:], self.weights[cut:]
        self.close()
        self.content, self.weights = moved, moved_weights

    def name_at(self, tokens: list[int], position: int) -> Optional[_Name]:
        for name in self.names.get(tokens[position], ()):
            if tuple(tokens[position:position + len(name.tokens)]) == name.tokens:
                return name
        return None

    def close(self, last: bool = False) -> None:
        used = len(self.content)
        # A1111's count: a chunk followed by another counts whole.
        self.counted += used if last else CHUNK_TOKENS
        padding = CHUNK_TOKENS - used
        ids = self.ids
        self.chunks.append(Chunk(
            tokens=(ids.start, *self.content, ids.end, *([ids.pad] * padding)),
            weights=(1.0, *self.weights, 1.0, *([1.0] * padding)),
            used=used))
        self.content, self.weights = [], []
        self.last_comma = -1


def _names_by_first_token(embeddings: Mapping[str, int], tokenize: Tokenize) -> dict[int, list[_Name]]:
    """The embeddings' names as tokens, grouped by their first token, longest first, so that
    "style two" wins over "style" where both are embeddings."""
    by_first: dict[int, list[_Name]] = {}
    for embedding, vectors in embeddings.items():
        tokens = tuple(tokenize(embedding))
        if tokens:
            by_first.setdefault(tokens[0], []).append(_Name(tokens, embedding, vectors))
    for names in by_first.values():
        names.sort(key=lambda name: len(name.tokens), reverse=True)
    return by_first
