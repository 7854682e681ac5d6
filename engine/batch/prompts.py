"""Prompt files: one prompt per line; `#` starts a comment line; blank lines are skipped."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.batch.errors import BatchError

# Far more than a plan can hold (engine/batch/plan.py's MAX_JOBS lines of 3 KiB), so a
# real prompt file never meets it; a wrong file (a video, a disk image) is refused unread.
MAX_FILE_BYTES = 32 * 2**20


@dataclass(frozen=True)
class PromptLine:
    number: int  # 1-based, as an editor shows it
    text: str


def parse_prompts(text: str, source: str = "the prompt file") -> list[PromptLine]:
    """Every prompt in `text`, or BatchError naming each bad line by number.

    A prompt is kept as written apart from surrounding spaces. A line is bad
    when it holds a control character (a pasted binary file, a stray NUL),
    which no tokenizer reads the way a person meant.
    """
    lines: list[PromptLine] = []
    problems: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        bad = sorted({f"U+{ord(c):04X}" for c in line if ord(c) < 32 or ord(c) == 127})
        if bad:
            problems.append(f"{source}, line {number}: control character(s) {', '.join(bad)} "
                            "in the prompt; save the file as plain text.")
            continue
        lines.append(PromptLine(number, line))
    if not lines and not problems:
        problems.append(f"{source} holds no prompt: write one prompt per line "
                        "(lines starting with # are comments).")
    if problems:
        raise BatchError(problems)
    return lines


def read_prompt_file(path: Path) -> list[PromptLine]:
    path = Path(path)
    try:
        with open(path, "rb") as handle:  # read up to the limit: a pipe has no size to ask
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise BatchError([f"Cannot read the prompt file {path}: {error.strerror}."]) from None
    if len(data) > MAX_FILE_BYTES:
        raise BatchError([f"The prompt file {path} is too large (over {MAX_FILE_BYTES // 2**20} MiB): "
                          "a batch takes a text file of one prompt per line."])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[:error.start].count(b"\n") + 1
        raise BatchError([f"{path}, line {line}: not UTF-8 text; save the file as UTF-8."]) from None
    return parse_prompts(text, str(path))
