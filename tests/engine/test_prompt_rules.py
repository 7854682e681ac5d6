"""engine/prompt_rules.py: the one place the form, the CLI and the engine get a prompt's problems."""
from __future__ import annotations

from engine.prompt_rules import PromptRules, prompt_problems, rules_for
from engine.prompts.counting import prompt_length
from engine.request import GenerationRequest


def test_the_demo_states_its_own_limit_counter_and_vocabulary():
    rules = rules_for("demo")
    assert rules.token_limit == 32 and rules.count_tokens("a red circle") == 5
    problems = prompt_problems(GenerationRequest("a red dragon", "blurry", model="demo"), rules)
    assert [p.field for p in problems] == ["prompt", "negative_prompt"]
    assert '"dragon"' in problems[0].message


def test_stable_diffusion_takes_prompts_of_any_length_in_chunks():
    rules = rules_for("sd-v1.4")
    assert rules.token_limit is None and rules.takes_networks
    long = GenerationRequest("cat " * 300, model="sd-v1.4")
    assert prompt_problems(long, rules.with_counter(lambda text: len(text.split()) + 2)) == []


def test_the_chunked_counter_reads_as_a1111s():
    words = lambda text: text.split()  # noqa: E731 - a toy tokenizer: one id per word
    tokenize = lambda text: [hash(w) % 1000 for w in words(text)]  # noqa: E731
    assert prompt_length("", tokenize) == (0, 75)
    assert prompt_length("cat " * 80, tokenize) == (80, 150)
    # A1111 counts a chunk that BREAK closed as full: 75 + 2.
    assert prompt_length("a cat BREAK a dog", tokenize) == (77, 150)
    # LoRA tags are not text the encoder reads; weights' brackets are not either.
    assert prompt_length("a (cat:1.3) <lora:style:0.8>", tokenize) == (2, 75)


def test_a_malformed_lora_tag_or_weight_is_named_under_the_prompt():
    for prompt, named in (("a cat <lora:style:abc>", "abc"), ("a (cat:1.2.3)", "1.2.3")):
        problems = prompt_problems(GenerationRequest(prompt), rules_for("sd-v1.4"))
        assert [p.field for p in problems] == ["prompt"] and named in problems[0].message
    # The counter goes on counting what it can meanwhile.
    assert prompt_length("a (cat:1.2.3)", lambda text: text.split()) == (2, 75)


def test_the_demo_model_says_it_takes_no_lora():
    problems = prompt_problems(GenerationRequest("a red circle <lora:style:1>", model="demo"),
                               rules_for("demo"))
    assert [p.field for p in problems] == ["prompt"]
    assert "cannot use LoRA" in problems[0].message and "<lora:style:1>" in problems[0].message


def test_a_shorter_limit_is_named_with_its_own_number():
    rules = PromptRules(4, lambda text: len(text.split()) + 2)
    problems = prompt_problems(GenerationRequest("one two three", model="demo"), rules)
    assert problems[0].message.startswith("Prompt is 5 tokens long; the limit is 4")


def test_the_engine_counts_the_demo_with_the_same_rule():
    from engine.pipeline import Engine
    assert Engine().count_tokens("demo", "a small red circle, blue background") == \
        rules_for("demo").count_tokens("a small red circle, blue background")
