"""Words the demo model knows, and prompts turned into fixed-length token ids.

The vocabulary's order is baked into the trained embedding: append, never reorder.
"""
from __future__ import annotations

import re

import numpy as np

from engine.demo.scenes import COLOURS, SHAPES

PAD, START, END = 0, 1, 2
SEQUENCE_LENGTH = 32  # start and end included; the longest grammar caption uses 21

VOCABULARY: tuple[str, ...] = (
    "<pad>", "<start>", "<end>",
    "a", "an", "the", "on", "at", "in", "and", "background",
    "small", "large", "left", "right", "top", "bottom", "centre",
    *SHAPES,
    *COLOURS,
)
_IDS = {word: i for i, word in enumerate(VOCABULARY)}
# Spellings a person might type for words the model learned under another name.
SYNONYMS = {
    "center": "centre", "middle": "centre", "big": "large", "little": "small",
    "tiny": "small", "huge": "large", "violet": "purple",
    "circles": "circle", "squares": "square", "triangles": "triangle",
}
# Words with no visual meaning here; accepted and ignored rather than called unknown.
IGNORED = {"with", "of", "image", "picture", "photo", "shape", "shapes"}
_WORD = re.compile(r"[a-z]+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _canonical(word: str):
    if word in _IDS:
        return word
    mapped = SYNONYMS.get(word)
    return mapped if mapped in _IDS else None


def unknown_words(text: str) -> list[str]:
    """Words of `text` the model has never seen, each once, in order."""
    seen: list[str] = []
    for w in words(text):
        if w not in IGNORED and _canonical(w) is None and w not in seen:
            seen.append(w)
    return seen


def count_tokens(text: str) -> int:
    return 2 + sum(1 for w in words(text) if _canonical(w) is not None)


def token_ids(texts: list[str]) -> np.ndarray:
    """int32 (N, SEQUENCE_LENGTH); unknown words are dropped, long prompts cut."""
    out = np.full((len(texts), SEQUENCE_LENGTH), PAD, np.int32)
    for i, text in enumerate(texts):
        ids = [_IDS[c] for c in map(_canonical, words(text)) if c is not None]
        ids = [START, *ids[: SEQUENCE_LENGTH - 2], END]
        out[i, : len(ids)] = ids
    return out
