"""How long A1111's prompt rules take on a long pasted prompt: the tags, the weights and the
chunks (engine/prompts), and the tokenizer apart, since it runs once per fragment whatever
the rules.

    python -m engine.benchmark.prompt_parsing [--vocabulary PATH] [--repeats N]

With no --vocabulary, CLIP's vocabulary is looked for where the app keeps its weights; with
none there, a whitespace tokenizer stands in (its token count is not CLIP's).
"""
from __future__ import annotations

import argparse
import re
import statistics
import time
from pathlib import Path
from typing import Callable, Optional

from engine.prompts.chunks import chunk_prompt, token_count
from engine.prompts.syntax import parse_weights, take_networks

# What model sites show: quality words, nested and numeric weights, an escaped bracket, a
# LoRA tag, a BREAK, an embedding name, and commas throughout (about 300 CLIP tokens).
PROMPT = (
    "masterpiece, best quality, (ultra detailed:1.2), ((photorealistic)), 8k uhd, dslr, soft lighting, "
    "high quality, film grain, Fujifilm XT3, <lora:add_detail:0.6>, (1girl:1.1), solo, looking at viewer, "
    "(long flowing silver hair:1.3), [braids], (emerald green eyes:1.25), delicate facial features, "
    "light freckles, gentle smile, wearing an (ornate victorian dress:1.15) with (golden embroidery:1.1), "
    "lace collar, pearl necklace, standing in a ((sunlit botanical garden)), blooming roses, wisteria, "
    "ivy covered stone arches, marble fountain, koi pond, butterflies, dappled sunlight through leaves, "
    "(volumetric light rays:0.9), god rays, bokeh, depth of field, shallow focus, 85mm lens, f/1.8, "
    "golden hour, warm colour palette, (cinematic composition:1.05), rule of thirds, "
    "BREAK "
    "intricate background details, (greenhouse with wrought iron frame:1.2), glass panes, morning dew, "
    "hanging lanterns, wooden benches, gravel path, [[lens flare]], subtle vignette, (sharp focus:1.1), "
    "highly detailed skin texture, subsurface scattering, natural skin tones, realistic fabric folds, "
    "(award winning photograph:1.1), trending on artstation, by greg rutkowski and alphonse mucha, "
    "art nouveau frame, \\(signature\\) free, (((elegant pose))), hands clasped, looking over shoulder, "
    "wind blowing hair, petals floating in the air, (dreamy atmosphere:1.2), pastel sky, fluffy clouds, "
    "(perfect anatomy:1.15), symmetrical face, "
    "easynegative, (detailed eyes:1.2), reflections in eyes, long eyelashes, soft blush, glossy lips, "
    "serene expression, storybook illustration style, (oil painting texture:0.7), canvas grain"
)
EMBEDDINGS = {"easynegative": 8}


def measure(tokenize: Callable[[str], list[int]], repeats: int = 200) -> dict[str, float]:
    """Median milliseconds, over `repeats` runs on PROMPT, of: taking out the network tags
    (networks_ms), parsing the weights (parse_ms), chunking with the tokens already at hand
    (chunk_ms), their sum in one pass (total_ms), and tokenizing every fragment, the comma
    and the embedding names (tokenize_ms); with the prompt's token count as A1111 shows it
    (tokens: a chunk followed by another counts 75), its text tokens and its chunks."""
    text, _tags = take_networks(PROMPT)
    fragments = parse_weights(text)
    known: dict[str, list[int]] = {}

    def tokenize_once(piece: str) -> list[int]:
        # The tokenizer's own time is measured apart, below.
        if piece not in known:
            known[piece] = list(tokenize(piece))
        return known[piece]

    chunks = chunk_prompt(fragments, tokenize_once, EMBEDDINGS)
    used, _capacity = token_count(fragments, tokenize_once, EMBEDDINGS)
    pieces = [piece for piece, _ in fragments] + [","] + list(EMBEDDINGS)

    figures = {
        "networks_ms": _median_ms(lambda: take_networks(PROMPT), repeats),
        "parse_ms": _median_ms(lambda: parse_weights(text), repeats),
        "chunk_ms": _median_ms(lambda: chunk_prompt(fragments, tokenize_once, EMBEDDINGS), repeats),
        "total_ms": _median_ms(
            lambda: chunk_prompt(parse_weights(take_networks(PROMPT)[0]), tokenize_once, EMBEDDINGS), repeats),
        "tokenize_ms": _median_ms(lambda: [tokenize(piece) for piece in pieces], repeats),
    }
    figures.update(tokens=used, text_tokens=sum(chunk.used for chunk in chunks), chunks=len(chunks),
                   fragments=len(fragments))
    return figures


def _median_ms(work: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def whitespace_tokenizer() -> Callable[[str], list[int]]:
    """Words and punctuation marks, one id each: the stand-in when CLIP's vocabulary is absent."""
    ids: dict[str, int] = {",": 267}

    def tokenize(text: str) -> list[int]:
        return [ids.setdefault(word, 1000 + len(ids)) for word in re.findall(r"\w+|[^\w\s]", text.lower())]
    return tokenize


def clip_tokenizer(vocabulary: Path) -> Callable[[str], list[int]]:
    """KerasCV's SimpleTokenizer, built as the SD backend builds it, without its start and end ids."""
    from engine.backends.keras_sd import load_tokenizer  # Keras: only when this tokenizer is asked for
    tokenizer = load_tokenizer(vocabulary)
    return lambda text: tokenizer.encode(text)[1:-1]


def find_vocabulary() -> Optional[Path]:
    from engine.locations import find_file, search_dirs
    from engine.models.builtin import VOCABULARY
    return find_file(VOCABULARY.name, search_dirs())


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vocabulary", type=Path, help="CLIP's bpe_simple_vocab_16e6.txt.gz")
    parser.add_argument("--repeats", type=int, default=200)
    options = parser.parse_args(argv)
    vocabulary = options.vocabulary or find_vocabulary()
    if vocabulary is not None:
        tokenize, label = clip_tokenizer(vocabulary), f"KerasCV SimpleTokenizer ({vocabulary})"
    else:
        tokenize, label = whitespace_tokenizer(), "whitespace tokenizer (no CLIP vocabulary found)"
    figures = measure(tokenize, options.repeats)
    print(f"tokenizer: {label}")
    print(f"prompt: {len(PROMPT)} characters, {figures['fragments']} fragments, "
          f"{figures['text_tokens']} text tokens in {figures['chunks']} chunks "
          f"(A1111's counter: {figures['tokens']}/{75 * figures['chunks']})")
    print(f"median of {options.repeats} runs, milliseconds:")
    for name in ("networks_ms", "parse_ms", "chunk_ms", "total_ms", "tokenize_ms"):
        print(f"  {name:12} {figures[name]:.3f}")


if __name__ == "__main__":
    main()
