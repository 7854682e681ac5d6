"""What the API lists, in A1111's shapes: the models (titled `name [shorthash]`), the
samplers and schedule types, the upscalers; and which model a client's title means."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from engine.samplers import names as sampler_names

# A model whose files are there (or need no download) is offered, as in the window.
_USABLE_STATES = ("installed", "unverified", "unknown")
_TITLE = re.compile(r"^(?P<name>.*?)\s*\[(?P<hash>[0-9a-fA-F]{8,64})\]$")


@dataclass(frozen=True)
class ListedModel:
    id: str  # our model id: what a request names
    sha256: Optional[str]  # the file's, where it is one file and known
    filename: str = ""  # the file's name only: where it lies is not the client's business

    @property
    def short_hash(self) -> Optional[str]:
        """A1111's `Model hash` (and ours, in every PNG): 10 hex digits of the sha256."""
        return self.sha256[:10] if self.sha256 else None

    @property
    def title(self) -> str:
        """A1111's title: the name, and the short hash once it is known (as A1111, which
        adds it once the file has been hashed)."""
        return f"{self.id} [{self.short_hash}]" if self.short_hash else self.id

    def as_a1111(self) -> dict:
        return {"title": self.title, "model_name": self.id, "hash": self.short_hash,
                "sha256": self.sha256, "filename": self.filename or self.id, "config": None}


def listed_models() -> list[ListedModel]:
    """Every model the window's chooser offers as usable, the built-in demo included (a
    fresh install has only it). No file is hashed here: a checkpoint's hash is the one
    the library already knows."""
    from engine.models import registry
    from engine.models.status import model_status
    found = []
    for spec in registry.all_models():
        if spec.family != "demo":
            try:
                if model_status(spec.id).state not in _USABLE_STATES:
                    continue
            except Exception:  # noqa: BLE001 - one odd model must not hide the others
                continue
        found.append(ListedModel(spec.id, _known_sha256(spec), _file_name(spec)))
    return found


def _file_name(spec) -> str:
    if spec.checkpoint is not None:
        return spec.checkpoint.path.name
    files = [f.name for f in spec.files if f.role == "checkpoint"]
    return files[0] if files else spec.id


def _known_sha256(spec) -> Optional[str]:
    if spec.checkpoint is not None:
        return spec.checkpoint.sha256
    single = [f for f in spec.files if f.role == "checkpoint"]
    return single[0].sha256 if single else None


def find_model(text: str, models: Optional[list[ListedModel]] = None) -> Optional[ListedModel]:
    """The model a client means by `text`: a title (`name [hash]`), a name, a file name, or
    a short hash, as A1111's closest-checkpoint match takes them."""
    if not isinstance(text, str) or not text.strip():
        return None
    models = listed_models() if models is None else models
    text = text.strip()
    match = _TITLE.match(text)
    name, short = (match.group("name"), match.group("hash").lower()) if match else (text, None)
    for model in models:
        if text in (model.title, model.id):
            return model
    for model in models:
        if name == model.id or name.rsplit(".", 1)[0] == model.id:
            return model
    if short or re.fullmatch(r"[0-9a-fA-F]{8,64}", text):
        wanted = (short or text).lower()
        for model in models:
            if model.sha256 and model.sha256.startswith(wanted):
                return model
    return None


def title_of(model_id: str) -> str:
    for model in listed_models():
        if model.id == model_id:
            return model.title
    return model_id


# ---------------------------------------------------------------- samplers

# A1111's schedule types, by the name clients send (webuiapi sends "automatic") and the label.
_SCHEDULERS = (("automatic", "Automatic", -1.0), ("karras", "Karras", 7.0),
               ("sgm_uniform", "SGM Uniform", -1.0))


def samplers() -> list[dict]:
    return [{"name": sampler_names.a1111_name(sampler), "aliases": [sampler], "options": {}}
            for sampler in sampler_names.IDS]


def schedulers() -> list[dict]:
    return [{"name": name, "label": label, "aliases": None, "default_rho": rho,
             "need_inner_model": False} for name, label, rho in _SCHEDULERS]


def sampler_id(name: str, scheduler: Optional[str]) -> Optional[str]:
    """Our sampler for A1111's name (either form) and schedule type (by name or label,
    any case); None where we have no such pair."""
    label = None
    if scheduler:
        for known, known_label, _ in _SCHEDULERS:
            if scheduler.strip().lower() in (known, known_label.lower()):
                label = known_label
                break
        else:
            return None
    found = sampler_names.from_a1111(name, label)
    if found is None and label in (None, sampler_names.AUTOMATIC):
        found = sampler_names.from_either(name)
    return found


def upscalers() -> list[dict]:
    """The hires fix's pixel upscalers (its latent ones are latent_upscale_modes)."""
    from engine.request import PIXEL_UPSCALERS
    return [{"name": name, "model_name": None, "model_path": None, "model_url": None,
             "scale": 4.0} for name in ("None", *PIXEL_UPSCALERS)]


def latent_upscale_modes() -> list[dict]:
    from engine.request import LATENT_UPSCALERS
    return [{"name": name} for name in LATENT_UPSCALERS]
