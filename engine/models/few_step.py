"""Few-step models and LoRAs (LCM, SD-Turbo, Hyper-SD, SDXL-Lightning), recognised from
what their safetensors files say, and the steps, guidance and sampler each is made for.

What the file says: the metadata of its header (`__metadata__`): Stability's model
spec (`modelspec.title`, `modelspec.architecture`, `modelspec.description`, ...) and
kohya's training record (`ss_output_name`, the base model `ss_sd_model_name`, the
training comment), and the names and descriptions other trainers write. The file's
own name is read only where its metadata names nothing (the official LCM-LoRA carries
`{"format": "pt"}` alone, and is shared renamed as `lcm-lora-sdv1-5.safetensors`), and
the offer then says so.

Guidance 1 is the conditional prediction alone (engine/sampler.py), which is what
diffusers runs for these models at its "guidance 0"; our guidance 0 would be the
negative prompt alone, so the presets say 1 where the model cards say 0.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping, Optional

# Metadata keys that name or describe the model (others, such as kohya's caption
# statistics, hold words from the training images).
_NAMING_KEYS = ("ss_output_name", "ss_sd_model_name", "ss_training_comment", "name",
                "description", "title", "model_name", "base_model")
_NAMING_PREFIXES = ("modelspec.",)


@dataclass(frozen=True)
class FewStep:
    kind: str  # what it is, as its makers name it: "LCM", "SD-Turbo", ...
    steps: int
    guidance: float
    sampler: str  # engine.samplers id
    source: str  # what said so, for the note: "its metadata (modelspec.title)" or "its name"

    def settings(self) -> str:
        from engine.samplers.names import a1111_name
        return f"{self.steps} steps, guidance {self.guidance:g}, {a1111_name(self.sampler)}"


@dataclass(frozen=True)
class _Rule:
    kind: str
    pattern: re.Pattern
    steps: int
    guidance: float
    sampler: str


def _words(pattern: str) -> re.Pattern:
    return re.compile(rf"(?<![a-z0-9])(?:{pattern})(?![a-z])")


# The makers' recommendations: LCM 4-8 steps at guidance 1-2 with its own sampler;
# SD-Turbo 1-4 steps without guidance on trailing timesteps; Hyper-SD and SDXL-Lightning
# on trailing timesteps (DDIM trailing / Euler SGM Uniform) without guidance, at the
# step count they were distilled for (in their names: "8steps").
_RULES = (
    _Rule("LCM", _words(r"lcm|latent consistency"), 4, 1.5, "lcm"),
    _Rule("Hyper-SD", _words(r"hyper ?sd(?:xl|15|21)?"), 8, 1.0, "euler-sgm"),
    _Rule("SDXL-Lightning", _words(r"sdxl ?lightning"), 4, 1.0, "euler-sgm"),
    _Rule("SD-Turbo", _words(r"turbo|adversarial diffusion distillation"), 1, 1.0, "euler-a-sgm"),
)
_STEPS = re.compile(r"(?<![0-9])([1-8]) ?steps?(?![a-z])")


def _normal(text: str) -> str:
    return re.sub(r"[\s_\-.]+", " ", text.lower())


def recognise_text(text: str) -> Optional[tuple[str, int, float, str]]:
    """(kind, steps, guidance, sampler) for a name or description that says it is a
    few-step model; None otherwise."""
    text = _normal(text)
    for rule in _RULES:
        if rule.pattern.search(text):
            distilled = _STEPS.search(text)  # "Hyper-SD15-2steps": made for 2
            steps = int(distilled.group(1)) if distilled else rule.steps
            return rule.kind, steps, rule.guidance, rule.sampler
    return None


def recognise(metadata: Mapping[str, str], file_name: str = "") -> Optional[FewStep]:
    """From a safetensors file's metadata, else (where the metadata names nothing) its name."""
    for key, value in metadata.items():
        if not isinstance(value, str):
            continue
        if key in _NAMING_KEYS or key.startswith(_NAMING_PREFIXES):
            found = recognise_text(value)
            if found is not None:
                return FewStep(*found, source=f"its metadata ({key})")
    if file_name and not any(k in _NAMING_KEYS or k.startswith(_NAMING_PREFIXES)
                             for k in metadata):
        found = recognise_text(Path(file_name).stem)
        if found is not None:
            return FewStep(*found, source="its file name")
    return None


_CACHE: dict[tuple[str, int, int], Optional[FewStep]] = {}


def of_file(path: Path) -> Optional[FewStep]:
    """A safetensors file's few-step kind, from its header alone (cached per file version);
    None for other files, and for any file that cannot be read (the loaders say why)."""
    from engine.models.safetensors_file import SafetensorsError, SafetensorsFile
    path = Path(path)
    if path.suffix.lower() != ".safetensors":
        return None
    try:
        st = path.stat()
        key = (str(path), st.st_size, st.st_mtime_ns)
        if key not in _CACHE:
            with SafetensorsFile(path) as reader:
                _CACHE[key] = recognise(reader.metadata, path.name)
    except (OSError, SafetensorsError):
        return None
    return _CACHE[key]


def for_prompt(model_path: Optional[Path], prompt: str,
               find_lora: Optional[Callable[[str], Optional[Path]]] = None) -> Optional[FewStep]:
    """The few-step kind of the checkpoint at `model_path` (None for a built-in model), else
    of the first LoRA the prompt names (`<lora:name:w>`) that is one."""
    if model_path is not None:
        found = of_file(model_path)
        if found is not None:
            return found
    for path in _lora_paths(prompt, find_lora or _find_lora):
        found = of_file(path)
        if found is not None:
            return FewStep(found.kind + "-LoRA" if found.kind == "LCM" else found.kind,
                           found.steps, found.guidance, found.sampler, found.source)
    return None


def lora_names(prompt: str) -> tuple[str, ...]:
    """The LoRA names a prompt's tags hold (nothing where the tags do not parse)."""
    from engine.prompts.syntax import PromptSyntaxError, take_networks
    try:
        return tuple(tag.name for tag in take_networks(prompt)[1] if tag.kind == "lora")
    except PromptSyntaxError:
        return ()


def _lora_paths(prompt: str, find: Callable[[str], Optional[Path]]) -> Iterable[Path]:
    for name in lora_names(prompt):
        path = find(name)
        if path is not None:
            yield path


def _find_lora(name: str) -> Optional[Path]:
    from engine.models import extra_networks
    entry = extra_networks.find("lora", name)
    return entry.path if entry is not None else None


def for_model(model_id: str, prompt: str = "") -> Optional[FewStep]:
    """For the GUI: the chosen model (a library checkpoint by name) and the prompt's LoRAs."""
    from engine.models.builtin import BUILT_IN_IDS
    from engine.models.library import library
    path = None
    if model_id and model_id not in BUILT_IN_IDS:
        entry = library().find(model_id)
        path = entry.path if entry is not None else None
    return for_prompt(path, prompt)
