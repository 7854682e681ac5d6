"""A1111's token counter for a prompt as written: (tokens used, capacity of its chunks)."""
from __future__ import annotations

from typing import Mapping, Optional

from engine.prompts.chunks import Tokenize, token_count
from engine.prompts.syntax import PromptSyntaxError, parse_weights, take_networks


def prompt_length(prompt: str, tokenize: Tokenize,
                  embeddings: Optional[Mapping[str, int]] = None) -> tuple[int, int]:
    """`tokenize` gives ids without start and end; `embeddings`: vectors per name. A
    prompt that does not parse is counted as plain text: its message comes from the
    request's checks, and the counter keeps counting meanwhile."""
    try:
        text, _networks = take_networks(prompt)
        fragments = parse_weights(text)
    except PromptSyntaxError:
        fragments = [(prompt, 1.0)]
    try:
        return token_count(fragments, tokenize, embeddings or {})
    except PromptSyntaxError:  # an embedding with an unusable number of vectors
        return token_count(fragments, tokenize, {})
