"""What a prompt may hold, per model: the one function the form, the CLI and the engine ask.

Each model says its own rules: how many tokens it reads (start and end included) and
how to count them, or, for Stable Diffusion, that a prompt of any length is read in
chunks of 75 (A1111's rule) and how full those chunks are; and, for a closed vocabulary
like the demo's, which words it cannot draw. `prompt_problems` turns those rules into
messages a person can act on.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Optional

from engine.request import GenerationRequest, Problem

PROMPT_FIELDS = (("prompt", "Prompt"), ("negative_prompt", "Negative prompt"))


@dataclass(frozen=True)
class PromptRules:
    token_limit: Optional[int]  # None: any length, in chunks of CHUNK_TOKENS
    count_tokens: Optional[Callable[[str], int]] = None  # None while no tokenizer is at hand
    vocabulary_problem: Optional[Callable[[str], Optional[str]]] = None  # closed vocabularies
    # Chunked models: (tokens used, capacity of the chunks they fill), A1111's "80/150".
    chunk_length: Optional[Callable[[str], tuple[int, int]]] = None
    takes_networks: bool = True  # <lora:...> tags: CLIP text encoders only, not the demo's

    def with_counter(self, count_tokens: Optional[Callable[[str], int]]) -> "PromptRules":
        return replace(self, count_tokens=count_tokens)

    def with_chunk_length(self, length: Optional[Callable[[str], tuple[int, int]]]) -> "PromptRules":
        return replace(self, chunk_length=length)


def rules_for(model_id: str) -> PromptRules:
    """A model's rules without loading anything heavy (no TensorFlow): the demo's are
    complete; Stable Diffusion's count needs its tokenizer (`Engine.count_tokens`)."""
    from engine.models import registry
    try:
        family = registry.get_model(model_id).family
    except KeyError:
        return PromptRules(None)  # an unknown model: the request names that problem
    if family == "demo":
        from engine.demo import text  # numpy only
        return PromptRules(text.SEQUENCE_LENGTH, text.count_tokens, text.vocabulary_problem,
                           takes_networks=False)
    return PromptRules(None)


def rules_of(backend) -> PromptRules:
    """The rules of a built model (engine/backends: max_tokens and count_tokens, or
    prompt_length where prompts are chunked, and vocabulary_problem where the vocabulary
    is closed)."""
    length = getattr(backend, "prompt_length", None)
    return PromptRules(None if length is not None else backend.max_tokens, backend.count_tokens,
                       getattr(backend, "vocabulary_problem", None), length,
                       takes_networks=hasattr(backend, "use_networks"))


def prompt_problems(request: GenerationRequest, rules: PromptRules) -> list[Problem]:
    """Every problem with the request (GenerationRequest.validate), the prompt's length
    and words judged by the model's rules."""
    problems = request.validate(rules.count_tokens, rules.token_limit)
    if isinstance(request.prompt, str) and not any(p.field == "prompt" for p in problems):
        message = syntax_problem(request.prompt, rules.takes_networks)
        if message:
            problems.append(Problem("prompt", message))
    if rules.vocabulary_problem is not None:
        for name, _label in PROMPT_FIELDS:
            text = getattr(request, name)
            if not isinstance(text, str) or not text or any(p.field == name for p in problems):
                continue
            message = rules.vocabulary_problem(text)
            if message:
                problems.append(Problem(name, message))
    return problems


def syntax_problem(prompt: str, takes_networks: bool = True) -> Optional[str]:
    """What is wrong with the prompt as A1111's language reads it: its weights and its
    `<lora:NAME:WEIGHT>` tags (whether the files exist is the engine's question, asked
    when the job runs)."""
    from engine.prompts.syntax import PromptSyntaxError, parse_weights, take_networks
    try:
        text, tags = take_networks(prompt)
        parse_weights(text)
    except PromptSyntaxError as error:
        return str(error)
    if tags and not takes_networks:
        return (f"This model cannot use LoRA files ({tags[0].text}): choose a Stable "
                "Diffusion model, or remove the tag.")
    return None
