"""What a benchmark run measures. The defaults are KerasCV's tutorial's."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

# name -> (mixed precision, XLA), in the tutorial's order.
CONFIGS: dict[str, tuple[bool, bool]] = {
    "standard": (False, False),
    "mixed": (True, False),
    "xla": (False, True),
    "xla+mixed": (True, True),
}
TUTORIAL_PROMPT = "A cute otter in a rainbow whirlpool holding shells, watercolor"


@dataclass(frozen=True)
class BenchmarkSettings:
    model: str = "sd-v1.4"
    batch: int = 3
    steps: int = 50
    width: int = 512
    height: int = 512
    runs: int = 3  # timed warm runs per configuration (and per side when comparing)
    configs: tuple[str, ...] = tuple(CONFIGS)
    random_weights: bool = False
    # Also time KerasCV's own text_to_image and our other guidance mode at the same settings.
    compare: bool = True
    # Release the model before each configuration, so the cold run includes the build.
    # Off only when the caller lends an engine whose model must stay (tests).
    fresh_builds: bool = True
    prompt: str = ""  # "": the model's own benchmark prompt (prompt_for)
    seed: int = 12345
    preview: bool = True  # as the app runs: the per-step preview is part of our time

    def model_prompt(self) -> str:
        return self.prompt or prompt_for(self.model)

    def problems(self) -> list[str]:
        unknown = [c for c in self.configs if c not in CONFIGS]
        problems = [f"Unknown configuration(s): {', '.join(unknown)}; choose from "
                    f"{', '.join(CONFIGS)}."] if unknown else []
        if not self.configs:
            problems.append("Choose at least one configuration.")
        if self.runs < 1:
            problems.append("Runs must be at least 1.")
        return problems

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["configs"] = list(self.configs)
        return data


def prompt_for(model_id: str) -> str:
    """The tutorial's prompt where the model can draw it; else the model's own example
    (the demo knows a few dozen words, none of the tutorial's)."""
    from engine.examples import examples_for
    example = examples_for(model_id)
    return example.prompt if example.words is not None else TUTORIAL_PROMPT


def parse_configs(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())
