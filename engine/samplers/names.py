"""The samplers a request can name, and their A1111 names: no numpy, so the request,
the CLI's --help and the GUI's chooser can read it without loading any maths.

A1111 (and the tools that read its PNG text) call the same sampler two ways:
before version 1.9 the schedule was part of the name (`DPM++ 2M Karras`); since
then it is a key of its own (`Sampler: DPM++ 2M, Schedule type: Karras`).
"""
from __future__ import annotations

from typing import Optional

# id -> (A1111 name as written, what it is in a few words). The order is the chooser's.
SAMPLERS: dict[str, tuple[str, str]] = {
    "ddim": ("DDIM", "KerasCV's own; bit for bit its generate_image"),
    "euler": ("Euler", "first order"),
    "euler-a": ("Euler a", "ancestral: fresh noise each step, never settles on one image"),
    "dpmpp-2m": ("DPM++ 2M", "second order, multistep"),
    "dpmpp-2m-karras": ("DPM++ 2M Karras", "DPM++ 2M on Karras's noise levels"),
    "unipc": ("UniPC", "second order, predictor-corrector"),
    "lcm": ("LCM", "for LCM models and LCM-LoRA: 2-8 steps at guidance 1-2"),
    "euler-sgm": ("Euler SGM Uniform", "Euler on trailing timesteps, for SD-Turbo: 1-4 steps"),
    "euler-a-sgm": ("Euler a SGM Uniform",
                    "Euler a on trailing timesteps, for SD-Turbo: 1-4 steps at guidance 0-1"),
}
IDS = tuple(SAMPLERS)

# Samplers on a schedule type that A1111 only ever writes as its own key (it came after
# schedules left the sampler's name): id -> (A1111 sampler, schedule type).
_SPLIT = {"euler-sgm": ("Euler", "SGM Uniform"), "euler-a-sgm": ("Euler a", "SGM Uniform")}
# A1111's name for a sampler on a given schedule type -> ours. Schedule types not
# listed for a sampler are ones we do not offer.
_SCHEDULED = {("DPM++ 2M", "Karras"): "dpmpp-2m-karras", **{v: k for k, v in _SPLIT.items()}}
AUTOMATIC = "Automatic"  # A1111's "the sampler's own schedule"


def a1111_name(sampler: str) -> str:
    return SAMPLERS[sampler][0]


def a1111_parameters(sampler: str) -> str:
    """The value of A1111's `Sampler:` key, with its `Schedule type:` key after it where
    the sampler needs one (`Euler a, Schedule type: SGM Uniform`)."""
    if sampler in _SPLIT:
        name, schedule_type = _SPLIT[sampler]
        return f"{name}, Schedule type: {schedule_type}"
    return a1111_name(sampler)


def from_a1111(name: str, schedule_type: Optional[str] = None) -> Optional[str]:
    """Our id for an A1111 sampler name, in either form; None if we have no such sampler."""
    name = name.strip()
    schedule = (schedule_type or "").strip()
    if schedule and schedule != AUTOMATIC:
        found = _SCHEDULED.get((name, schedule))
        if found is not None:
            return found
        # `Sampler: DPM++ 2M Karras, Schedule type: Karras` says the same thing twice.
        if not name.endswith(" " + schedule):
            return None
    for sampler, (written, _) in SAMPLERS.items():
        if written == name:
            return sampler
    return None


def from_either(text: str) -> Optional[str]:
    """Our id or A1111's name, as a person may type either (`euler-a`, `Euler a`)."""
    text = text.strip()
    return text if text in SAMPLERS else from_a1111(text)


def unknown_message(text: str) -> str:
    return f"no sampler {text!r}; the samplers are {', '.join(IDS)}"


def described() -> str:
    """Every sampler with its A1111 name, for --help."""
    return "; ".join(f"{s} ({SAMPLERS[s][0]}: {SAMPLERS[s][1]})" for s in IDS)
