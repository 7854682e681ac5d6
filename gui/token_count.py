"""The line under a prompt box that counts its tokens, in each model's own terms.

Stable Diffusion reads a prompt of any length in chunks of 75 tokens (A1111's rule), so
its line reads like A1111's, "80/150 tokens", and is never over a limit; a model with a
fixed length (the demo's 32) says how far over it a prompt is. Counting runs at every
keystroke through the engine's cached tokenizer; a counter that fails shows a dash
rather than breaking the typing.
"""
from __future__ import annotations

from typing import Callable, Optional

from PySide6.QtWidgets import QLabel

from engine.prompt_rules import PromptRules, rules_for

CHUNK_TOKENS = 75  # A1111's chunk: 77 minus the start and end tokens
CHUNKS_TIP = ("Prompts of any length are read in chunks of 75 tokens; a longer prompt fills "
              "another chunk. BREAK starts a new chunk.")
WAITING_TIP = "The token count appears once the model's tokenizer has loaded."


def show_count(label: QLabel, rules: PromptRules, text: str) -> None:
    """Writes the count of `text` (already stripped) in `label`, with its tooltip and the
    "over" property the style sheet reds."""
    over = False
    if rules.token_limit is None:
        length = (0, CHUNK_TOKENS) if not text else _safe(rules.chunk_length)(text)
        if length is None:
            label.setText(f"\u2013/{CHUNK_TOKENS} tokens")
            label.setToolTip(WAITING_TIP)
        else:
            used, capacity = length
            label.setText(f"{used}/{capacity} tokens")
            label.setToolTip(CHUNKS_TIP)
    else:
        limit = rules.token_limit
        # An empty box reads 0, not the 2 that start and end tokens would make.
        count = _safe(rules.count_tokens)
        n = (count(text) if text else 0) if rules.count_tokens is not None else None
        if n is None:
            label.setText(f"\u2013/{limit} tokens")
            label.setToolTip(WAITING_TIP)
        else:
            over = n > limit
            label.setText(f"{n}/{limit} tokens" + (f" \u2014 {n - limit} over the limit" if over else ""))
            label.setToolTip("")
    label.setProperty("over", over)
    label.style().unpolish(label)
    label.style().polish(label)


def checking_rules(rules: PromptRules) -> PromptRules:
    """The rules prompt_problems judges with: a counter that fails counts nothing, so an
    unknown count never breaks typing (nor invents a problem)."""
    if rules.count_tokens is None:
        return rules
    count = _safe(rules.count_tokens)
    return rules.with_counter(lambda text: count(text) or 0)


def engine_rules(model_id: str, engine) -> PromptRules:
    """The model's rules, counting with the engine's cached tokenizer where they have no
    counter of their own: chunk lengths for Stable Diffusion, a count for fixed lengths."""
    rules = rules_for(model_id)
    if rules.token_limit is None:
        if rules.chunk_length is None:
            return rules.with_chunk_length(lambda text: engine.prompt_length(model_id, text))
        return rules
    if rules.count_tokens is None:
        return rules.with_counter(lambda text: engine.count_tokens(model_id, text))
    return rules


def _safe(count: Optional[Callable[[str], object]]) -> Callable[[str], object]:
    """The counter, returning None instead of raising (or when there is none)."""
    def counted(text: str):
        if count is None:
            return None
        try:
            return count(text)
        except Exception:  # noqa: BLE001 - an unknown count must not break typing
            return None
    return counted
