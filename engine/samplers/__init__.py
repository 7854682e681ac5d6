"""Samplers by name: `create` builds the one a request names, for one generation.

Each owns its schedule and update rule (and its state between steps); the
loop in engine/sampler.py drives every one the same way. Names and A1111's
spellings are in `names`. Importing this package loads no maths (the request
and the GUI read the names): `create` loads it when a generation starts.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Sequence

from engine.samplers.names import IDS, SAMPLERS, a1111_name

if TYPE_CHECKING:
    from engine.samplers.base import Sampler

__all__ = ["IDS", "SAMPLERS", "a1111_name", "create"]


def create(name: str, steps: int, seeds: Sequence[int] = (),
           clean_range: Optional[tuple[float, float]] = None) -> "Sampler":
    """`seeds`: each image's own, for the per-step noise of the samplers that add it.
    `clean_range`: the backend's range of clean images, if it has one (the demo's
    pixels): every sampler clips its clean predictions to it. Stable Diffusion has
    none, so there DDIM's arithmetic stays exactly KerasCV's."""
    from engine import noise
    from engine.samplers import schedules
    from engine.samplers.ddim import DDIM
    from engine.samplers.dpmpp import DPMSolverPP2M
    from engine.samplers.euler import Euler, EulerAncestral
    from engine.samplers.lcm import LCM
    from engine.samplers.unipc import UniPC

    seeds = list(seeds)

    def step_noise(index: int, shape: tuple[int, ...]):
        return noise.step_noise(seeds, shape[1:], index)

    if name == "ddim":
        return DDIM(steps, clean_range)
    if name == "euler":
        return Euler(schedules.uniform_in_time(steps), clean_range)
    if name == "euler-a":
        return EulerAncestral(schedules.uniform_in_time(steps), step_noise, clean_range)
    if name == "euler-sgm":
        return Euler(schedules.sgm_uniform(steps), clean_range)
    if name == "euler-a-sgm":
        return EulerAncestral(schedules.sgm_uniform(steps), step_noise, clean_range)
    if name == "lcm":
        return LCM(steps, step_noise, clean_range)
    if name == "dpmpp-2m":
        return DPMSolverPP2M(schedules.uniform_in_time(steps), clean_range)
    if name == "dpmpp-2m-karras":
        return DPMSolverPP2M(schedules.karras(steps), clean_range)
    if name == "unipc":
        return UniPC(schedules.uniform_in_time(steps), clean_range)
    raise ValueError(f"No sampler {name!r}; the samplers are {', '.join(IDS)}.")
