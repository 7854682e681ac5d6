"""What a prompt may hold, per model: the one function the form, the CLI and the engine ask.

Each model says its own rules: how many tokens it reads (start and end included),
how to count them, and, for a closed vocabulary like the demo's, which words it
cannot draw. `prompt_problems` turns those rules into messages a person can act on.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Optional

from engine.request import MAX_TOKENS, GenerationRequest, Problem

PROMPT_FIELDS = (("prompt", "Prompt"), ("negative_prompt", "Negative prompt"))


@dataclass(frozen=True)
class PromptRules:
    token_limit: int
    count_tokens: Optional[Callable[[str], int]] = None  # None while no tokenizer is at hand
    vocabulary_problem: Optional[Callable[[str], Optional[str]]] = None  # closed vocabularies

    def with_counter(self, count_tokens: Optional[Callable[[str], int]]) -> "PromptRules":
        return replace(self, count_tokens=count_tokens)


def rules_for(model_id: str) -> PromptRules:
    """A model's rules without loading anything heavy (no TensorFlow): the demo's are
    complete; Stable Diffusion's count needs its tokenizer (`Engine.count_tokens`)."""
    from engine.models import registry
    try:
        family = registry.get_model(model_id).family
    except KeyError:
        return PromptRules(MAX_TOKENS)
    if family == "demo":
        from engine.demo import text  # numpy only
        return PromptRules(text.SEQUENCE_LENGTH, text.count_tokens, text.vocabulary_problem)
    return PromptRules(MAX_TOKENS)


def rules_of(backend) -> PromptRules:
    """The rules of a built model (engine/backends: max_tokens, count_tokens, and
    vocabulary_problem where the vocabulary is closed)."""
    return PromptRules(backend.max_tokens, backend.count_tokens,
                       getattr(backend, "vocabulary_problem", None))


def prompt_problems(request: GenerationRequest, rules: PromptRules) -> list[Problem]:
    """Every problem with the request (GenerationRequest.validate), the prompt's length
    and words judged by the model's rules."""
    problems = request.validate(rules.count_tokens, rules.token_limit)
    if rules.vocabulary_problem is not None:
        for name, _label in PROMPT_FIELDS:
            text = getattr(request, name)
            if not isinstance(text, str) or not text or any(p.field == name for p in problems):
                continue
            message = rules.vocabulary_problem(text)
            if message:
                problems.append(Problem(name, message))
    return problems
