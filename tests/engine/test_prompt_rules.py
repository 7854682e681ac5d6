"""engine/prompt_rules.py: the one place the form, the CLI and the engine get a prompt's problems."""
from __future__ import annotations

from engine.prompt_rules import PromptRules, prompt_problems, rules_for
from engine.request import MAX_TOKENS, GenerationRequest


def test_the_demo_states_its_own_limit_counter_and_vocabulary():
    rules = rules_for("demo")
    assert rules.token_limit == 32 and rules.count_tokens("a red circle") == 5
    problems = prompt_problems(GenerationRequest("a red dragon", "blurry", model="demo"), rules)
    assert [p.field for p in problems] == ["prompt", "negative_prompt"]
    assert '"dragon"' in problems[0].message


def test_stable_diffusion_takes_any_words_up_to_77_tokens_once_a_counter_is_known():
    rules = rules_for("sd-v1.4")
    assert rules.token_limit == MAX_TOKENS and rules.count_tokens is None
    long = GenerationRequest("cat " * 100, model="sd-v1.4")
    assert prompt_problems(long, rules) == []  # no tokenizer yet: the length waits for one
    counted = prompt_problems(long, rules.with_counter(lambda text: len(text.split()) + 2))
    assert [p.message for p in counted] == [
        "Prompt is 102 tokens long; the limit is 77 (start and end tokens included). Remove 25."]


def test_a_shorter_limit_is_named_with_its_own_number():
    rules = PromptRules(4, lambda text: len(text.split()) + 2)
    problems = prompt_problems(GenerationRequest("one two three", model="demo"), rules)
    assert problems[0].message.startswith("Prompt is 5 tokens long; the limit is 4")


def test_the_engine_counts_the_demo_with_the_same_rule():
    from engine.pipeline import Engine
    assert Engine().count_tokens("demo", "a small red circle, blue background") == \
        rules_for("demo").count_tokens("a small red circle, blue background")
