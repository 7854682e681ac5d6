"""The LoRAs and embeddings a request's prompt names: found in their folders, read,
checked against the chosen model's family, and what the PNG records of them.

Everything here happens before a network is touched, so a missing, damaged or
wrong-family file stops the job with one message and nothing half-applied.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
import numpy as np

from engine.errors import InvalidRequest
from engine.models import extra_networks
from engine.models.embedding_file import Embedding, EmbeddingProblem, read_embedding
from engine.models.families import BY_ID
from engine.models.lora_file import LoraFile, LoraProblem, read_lora
from engine.prompts.syntax import PromptSyntaxError, take_networks
from engine.request import GenerationRequest, Problem

LORA_HASHES, TI_HASHES = "Lora hashes", "TI hashes"  # A1111's keys
_ENCODER_OF_FAMILY = {"sd-v1": "clip_l", "sd-v2": "clip_h"}


@dataclass(frozen=True)
class PromptNetworks:
    loras: tuple[tuple[LoraFile, float, float], ...] = ()  # (file, text weight, UNet weight)
    embeddings: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (n, width)
    hashes: dict[str, dict[str, str]] = field(default_factory=dict)  # for the PNG

    def __bool__(self) -> bool:
        return bool(self.loras or self.embeddings)


def resolve(request: GenerationRequest, family_id: str) -> PromptNetworks:
    """Raises InvalidRequest (field "prompt" or "negative_prompt") naming each problem."""
    problems: list[Problem] = []
    loras = _loras(request.prompt, family_id, problems)
    embeddings: dict[str, np.ndarray] = {}
    ti_hashes: dict[str, str] = {}
    available = extra_networks.list_files("embedding")  # a folder walk: once per request
    for name in ("prompt", "negative_prompt"):
        for embedding in _embeddings_in(getattr(request, name), available, family_id, name,
                                        problems):
            embeddings[embedding.name] = embedding.vectors[_ENCODER_OF_FAMILY[family_id]]
            ti_hashes[embedding.name] = _hash(extra_networks.embedding_hash, embedding.path,
                                              name, problems)
    lora_hashes = {lora.path.stem: _hash(extra_networks.lora_hash, lora.path, "prompt", problems)
                   for lora, _te, _unet in loras}
    if problems:
        raise InvalidRequest(problems)
    hashes = {key: by_name for key, by_name in ((LORA_HASHES, lora_hashes), (TI_HASHES, ti_hashes))
              if by_name}
    return PromptNetworks(tuple(loras), embeddings, hashes)


def _hash(hash_of, path: Path, field_name: str, problems: list[Problem]) -> str:
    try:
        return hash_of(path)
    except extra_networks.NetworkFileError as error:
        problems.append(Problem(field_name, str(error)))
        return ""


def _loras(prompt: str, family_id: str, problems: list[Problem]
           ) -> list[tuple[LoraFile, float, float]]:
    try:
        _text, tags = take_networks(prompt)
    except PromptSyntaxError as error:
        problems.append(Problem("prompt", str(error)))
        return []
    found = []
    for tag in tags:
        if tag.kind != "lora":
            problems.append(Problem("prompt", f"{tag.text}: SD Desk uses LoRA files "
                                              f"(<lora:NAME:WEIGHT>), not {tag.kind} networks."))
            continue
        entry = extra_networks.find("lora", tag.name)
        if entry is None:
            problems.append(Problem("prompt", _not_found("LoRA", tag.name, "lora")))
            continue
        try:
            lora = _read_lora_cached(entry.path)
        except LoraProblem as error:
            problems.append(Problem("prompt", str(error)))
            continue
        # No family: nothing in the file tells SD 1.x from 2.x; the merge checks each shape.
        if lora.family is not None and lora.family != family_id:
            problems.append(Problem("prompt", f"The LoRA {tag.name} is for {_label(lora.family)} "
                                              f"models; the chosen model is {_label(family_id)}."))
            continue
        found.append((lora, tag.weight, tag.unet_weight))
    return found


def _embeddings_in(text: str, available: list, family_id: str, field_name: str,
                   problems: list[Problem]) -> list[Embedding]:
    """The embeddings whose names the text holds as words (A1111 matches them in the
    token stream; a word test first saves reading every file in the folder)."""
    words = set(re.findall(r"[\w\-.]+", text.lower()))
    used = []
    for entry in available:
        if entry.name.lower() not in words:
            continue
        try:
            embedding = read_embedding(entry.path)
        except EmbeddingProblem as error:
            problems.append(Problem(field_name, str(error)))
            continue
        if embedding.width_family() != family_id:
            problems.append(Problem(field_name, f"The embedding {entry.name} is for "
                                                f"{_label(embedding.width_family())} models; the "
                                                f"chosen model is {_label(family_id)}."))
            continue
        used.append(embedding)
    return used


def _label(family_id: str) -> str:
    family = BY_ID.get(family_id)
    return family.label if family is not None else {"sdxl": "SDXL"}.get(family_id, family_id)


def _not_found(what: str, name: str, kind: str) -> str:
    folders = extra_networks.lora_dirs() if kind == "lora" else extra_networks.embedding_dirs()
    return (f"No {what} file named {name!r}: put {name}.safetensors in "
            f"{folders[0]}" + (" or another LoRA folder" if len(folders) > 1 else "") + ".")


_cache: dict[Path, tuple[tuple[int, int], LoraFile]] = {}


def _read_lora_cached(path: Path) -> LoraFile:
    """The last few LoRAs read stay in memory: a series of jobs with the same LoRA
    reads it once (the file's size and time tell when it changed)."""
    stat = path.stat()
    version = (stat.st_size, stat.st_mtime_ns)
    cached = _cache.get(path)
    if cached is not None and cached[0] == version:
        return cached[1]
    lora = read_lora(path)
    _cache[path] = (version, lora)
    while len(_cache) > 4:
        _cache.pop(next(iter(_cache)))
    return lora

