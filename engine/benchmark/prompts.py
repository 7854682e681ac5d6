"""`benchmark --prompts`: what A1111's prompt language costs here.

Parsing and chunking a 300-token prompt, the UNet's call at one, two and three chunks
of context, and reading, applying, switching and taking off a LoRA the size of a
typical SD 1.5 one (random SD 1.x networks, so no download is needed).
"""
from __future__ import annotations

import tempfile
from pathlib import Path


def main(size: int = 256) -> int:
    from engine.benchmark import lora_merge, long_prompts, prompt_parsing

    print("== Parsing and chunking (engine/prompts) ==")
    prompt_parsing.main(["--repeats", "200"])
    print(f"\n== The UNet on longer contexts ({size}x{size}) ==")
    long_prompts.main(["--size", str(size)])
    print("\n== A LoRA on SD 1.x networks ==")
    with tempfile.TemporaryDirectory(prefix="sd-desk-lora-bench-") as scratch:
        lora_merge.print_report(lora_merge.measure(Path(scratch)))
    return 0
