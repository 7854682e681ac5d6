"""Words the demo model knows, and prompts turned into fixed-length token ids.

The vocabulary's order is baked into the trained embedding: append, never reorder.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Optional

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
# What a person may have meant as a word, in any script: runs of letters, and each
# symbol (emoji) alone. Only for telling a prompt the model ignores from one it reads.
_TERM = re.compile(r"[^\W\d_]+|[^\w\s]")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _terms(text: str) -> list[str]:
    return [t for t in _TERM.findall(text.lower())
            if len(t) > 1 or t.isalpha() or unicodedata.category(t).startswith("S")]


def _canonical(word: str):
    if word in _IDS:
        return word
    mapped = SYNONYMS.get(word)
    return mapped if mapped in _IDS else None


def unknown_words(text: str) -> list[str]:
    """Words of `text` the model has never seen, each once, in order: any script, and
    emoji, count as words (the model would silently drop them)."""
    seen: list[str] = []
    for term in _terms(text):
        for w in (words(term) if term.isascii() else [term]):
            if w not in IGNORED and _canonical(w) is None and w not in seen:
                seen.append(w)
    return seen


def knows_any_word(text: str) -> bool:
    return any(_canonical(w) is not None for w in words(text))


def vocabulary_problem(text: str) -> Optional[str]:
    """The demo model's rule for a prompt, in words a person can act on; None when it can
    draw it. Every word must be one it knows, and at least one must be there: a prompt
    of only emoji or another script would otherwise be silently dropped."""
    unknown = unknown_words(text)
    if not knows_any_word(text):
        heard = f" ({', '.join(repr(w) for w in unknown)})" if unknown else ""
        return (f"The demo model knows none of the words in {text[:40]!r}{heard}. It draws "
                f"circles, squares and triangles from these words only: {_known_list()}. "
                'For example: "a small red circle on the left, blue background".')
    if unknown:
        quoted = ", ".join(f'"{w}"' for w in unknown)
        return (f"The demo model does not know {quoted}. It draws circles, squares and "
                f"triangles from these words only: {_known_list()}. "
                'For example: "a small red circle on the left, blue background".')
    return None


def _known_list() -> str:
    return ", ".join(w for w in VOCABULARY if not w.startswith("<"))


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
