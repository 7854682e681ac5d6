"""What each model can be asked for: an example prompt and negative prompt that model
itself accepts, a one-line description for a first start, and (for the demo) the words
it knows. The window's placeholders, its help and the benchmark's prompts ask here."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from engine.models.registry import get_model


@dataclass(frozen=True)
class ModelExamples:
    prompt: str
    negative: str  # "" where the model has no use for one
    about: str = ""  # one line for a person meeting the model for the first time
    words: Optional[tuple[str, ...]] = None  # a closed vocabulary, where the model has one


def demo_words() -> tuple[str, ...]:
    from engine.demo.text import SYNONYMS, VOCABULARY
    return tuple(w for w in VOCABULARY if not w.startswith("<")) + tuple(sorted(SYNONYMS))


def examples_for(model_id: str) -> ModelExamples:
    try:
        family = get_model(model_id).family
    except KeyError:
        family = ""
    if family == "demo":
        return ModelExamples(
            prompt="a small red circle on the left, blue background",
            negative="",
            about=("Demo is SD Desk's own tiny model: it draws coloured circles, squares and "
                   "triangles from a few dozen words, and reads none of A1111's prompt "
                   "language (weights, BREAK, LoRA, embeddings, clip skip). For real images, "
                   "get Stable Diffusion from Tools \u25b8 Models (download or import)."),
            words=demo_words())
    return ModelExamples(prompt="a lighthouse at dusk, oil painting", negative="blurry, text")
