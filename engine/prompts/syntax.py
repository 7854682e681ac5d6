"""A1111's prompt syntax, read the way A1111 reads it, so that prompts pasted from model
sites mean here what they meant there.

    take_networks  `<lora:name:0.8>` and the other extra-network tags, out of the text
    parse_weights  `(x)`, `[x]`, `(x:1.3)`, backslash escapes and BREAK, into weighted fragments

One deliberate difference: A1111 multiplies a BREAK inside brackets like any text, which
turns the marker into the word "break" with a negative weight; here a BREAK is a BREAK
wherever it stands.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass


class PromptSyntaxError(ValueError):
    """A prompt A1111's rules cannot read; str() names the bad part and what to write."""


# -- extra-network tags -------------------------------------------------------------

# A network's multiplier past this is a typo, not a style: A1111 itself puts no bound.
WEIGHT_LIMIT = 100.0

# A1111's tag pattern, except that `*` (where A1111 has `+`) also catches an empty `<lora:>`,
# which A1111 leaves in the text as words: here it is reported.
_TAG = re.compile(r"<(\w+):([^>]*)>")
_KIND_ALIASES = {"lyco": "lora"}  # A1111's Lora extension answers to both names
_NAMED_WEIGHTS = ("te", "unet")


@dataclass(frozen=True)
class NetworkTag:
    kind: str          # "lora" ("lyco" is read as "lora"); other kinds as written, for the caller to refuse
    name: str          # the file's name without its extension, as written
    weight: float      # the text encoder's multiplier (A1111's te)
    unet_weight: float  # the UNet's multiplier; the text encoder's unless given
    text: str          # the tag exactly as written, e.g. "<lora:style:0.8>"


def take_networks(prompt: str) -> tuple[str, list[NetworkTag]]:
    """A1111's extra-network tags `<kind:name[:te[:unet]]>` (the numbers may also be named
    `te=` and `unet=`) taken out of the prompt: the text left (each tag replaced by nothing,
    as A1111 does) and the tags in the order written. Angle brackets that do not make a tag
    (`<3`, `a <b> c`) stay in the text."""
    tags = [_read_tag(match) for match in _TAG.finditer(prompt)]
    if not tags:
        return prompt, []
    return _TAG.sub("", prompt), tags


def _read_tag(match: re.Match) -> NetworkTag:
    text, kind, arguments = match.group(0), match.group(1), match.group(2)
    positional: list[str] = []
    named: dict[str, str] = {}
    for item in arguments.split(":"):
        # A1111 reads `key=value` as named only with exactly one `=`; `a=b=c` stays positional.
        parts = item.split("=")
        if len(parts) == 2:
            named[parts[0]] = parts[1]
        else:
            positional.append(item)
    if not positional or not positional[0].strip():
        raise PromptSyntaxError(
            f"The tag {text} names no file: write it as <{kind}:NAME> or <{kind}:NAME:WEIGHT>.")
    if len(positional) > 3 or "dyn" in named:
        raise PromptSyntaxError(
            f"The tag {text} asks for a reduced rank (a fourth number or dyn=), which SD Desk "
            f"does not support: keep only <{kind}:NAME:WEIGHT> or <{kind}:NAME:TE_WEIGHT:UNET_WEIGHT>.")
    unknown = [key for key in named if key not in _NAMED_WEIGHTS]
    if unknown:
        raise PromptSyntaxError(
            f"The tag {text} has a setting '{unknown[0]}=' that SD Desk does not know: "
            f"the named weights are te= and unet=.")
    # A1111's order: the second item, then te=; the third item, then unet=, else the te weight.
    weight = _weight(positional[1], "weight", text) if len(positional) > 1 else 1.0
    if "te" in named:
        weight = _weight(named["te"], "te weight", text)
    unet_weight = _weight(positional[2], "UNet weight", text) if len(positional) > 2 else weight
    if "unet" in named:
        unet_weight = _weight(named["unet"], "unet weight", text)
    return NetworkTag(_KIND_ALIASES.get(kind, kind), positional[0], weight, unet_weight, text)


def _weight(value: str, what: str, tag: str) -> float:
    if not value.strip():
        raise PromptSyntaxError(f"The {what} in {tag} is empty: write a number such as 0.8, or drop the ':'.")
    try:
        number = float(value)
    except ValueError:
        raise PromptSyntaxError(
            f"The {what} '{value}' in {tag} is not a number: write a number such as 0.8.") from None
    if not math.isfinite(number):
        raise PromptSyntaxError(
            f"The {what} '{value}' in {tag} is not a finite number: write a number such as 0.8.")
    if abs(number) > WEIGHT_LIMIT:
        raise PromptSyntaxError(
            f"The {what} {value} in {tag} is outside the range -{WEIGHT_LIMIT:g} to {WEIGHT_LIMIT:g}: "
            f"LoRA weights are usually between 0 and 1.5.")
    return number


# -- attention weights --------------------------------------------------------------

BREAK = ("BREAK", -1.0)  # the marker fragment, as A1111 represents it

ROUND_MULTIPLIER = 1.1
SQUARE_MULTIPLIER = 1 / 1.1

# One piece of a prompt at a time, in A1111's order of preference.
_PIECE = re.compile(r"""
    \\(?P<escaped>[()\[\]\\]?)    # a backslash makes a bracket or a backslash literal; before anything else it is dropped
  | (?P<open>[(\[])
  | :(?P<weight>[+-]?[.\d]+)\)    # `:1.3)` closes a round bracket with that weight
  | (?P<close>[)\]])
  | (?P<text>[^\\()\[\]:]+|:)      # a colon that starts no weight is text
""", re.VERBOSE)
# Only the whole uppercase word; the spaces around it go with it.
_BREAK_WORD = re.compile(r"\s*\bBREAK\b\s*")


def parse_weights(text: str) -> list[tuple[str, float]]:
    """A1111's `parse_prompt_attention`: `(x)` multiplies x's weight by 1.1, `[x]` divides it
    by 1.1, `(x:1.3)` multiplies it by 1.3, nesting multiplies; `\\(`, `\\)`, `\\[`, `\\]` and
    `\\\\` are literal; an unclosed bracket applies to the end of the text and an unopened
    closing one is literal text; the uppercase word BREAK becomes the `BREAK` fragment;
    neighbours of equal weight are merged; empty text gives `[("", 1.0)]`."""
    texts: list[str] = []
    weights: list[float] = []
    markers: set[int] = set()  # positions of BREAK fragments, which no bracket scales
    open_round: list[int] = []  # where each open bracket's fragments start
    open_square: list[int] = []

    def scale_from(start: int, multiplier: float) -> None:
        for position in range(start, len(weights)):
            if position not in markers:
                weights[position] *= multiplier

    for piece in _PIECE.finditer(text):
        kind = piece.lastgroup
        if kind == "escaped":
            texts.append(piece.group("escaped"))
            weights.append(1.0)
        elif kind == "open":
            (open_round if piece.group() == "(" else open_square).append(len(texts))
        elif kind == "weight" and open_round:
            scale_from(open_round.pop(), _bracket_weight(piece.group("weight"), piece.start(), text))
        elif piece.group() == ")" and open_round:
            scale_from(open_round.pop(), ROUND_MULTIPLIER)
        elif piece.group() == "]" and open_square:
            scale_from(open_square.pop(), SQUARE_MULTIPLIER)
        else:  # plain text, or a closing bracket or weight with nothing open
            for index, part in enumerate(_BREAK_WORD.split(piece.group())):
                if index:
                    markers.add(len(texts))
                    texts.append(BREAK[0])
                    weights.append(BREAK[1])
                texts.append(part)
                weights.append(1.0)

    for start in open_round:
        scale_from(start, ROUND_MULTIPLIER)
    for start in open_square:
        scale_from(start, SQUARE_MULTIPLIER)
    if not texts:
        return [("", 1.0)]
    if not all(math.isfinite(weight) for weight in weights):
        raise PromptSyntaxError(
            "The prompt's nested weights multiply to more than a number can hold: use smaller weights.")
    return _merge(texts, weights, markers)


def _bracket_weight(value: str, at: int, text: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        written = text[max(0, at - 20):at + len(value) + 2]
        raise PromptSyntaxError(
            f"The weight '{value}' in '{written}' is not a number: write it like (word:1.2).")
    return number


def _merge(texts: list[str], weights: list[float], markers: set[int]) -> list[tuple[str, float]]:
    merged: list[tuple[str, float]] = []
    merged_marker = False
    for position, (part, weight) in enumerate(zip(texts, weights)):
        is_marker = position in markers
        if merged and not is_marker and not merged_marker and merged[-1][1] == weight:
            merged[-1] = (merged[-1][0] + part, weight)
        else:
            merged.append(BREAK if is_marker else (part, weight))
        merged_marker = is_marker
    return merged
