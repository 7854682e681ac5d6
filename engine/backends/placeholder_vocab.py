"""A CLIP BPE vocabulary file in the real format, with few merges.

The real vocabulary (1.36 MB) is downloaded with the weights. Runs with random
weights (tests, benchmarks on a fresh machine) only need a tokenizer that
behaves like CLIP's: byte-level, lower-cased, start and end tokens.
"""
from __future__ import annotations

import gzip
from pathlib import Path

_MERGES = ("t h", "th e</w>", "a n", "an d</w>", "i n", "o n</w>", "e r", "a t</w>",
           "o f</w>", "r e", "i s</w>", "e d</w>", "c at</w>")


def write_placeholder_vocabulary(path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("#version: 0.2\n" + "\n".join(_MERGES) + "\n")
    return path
