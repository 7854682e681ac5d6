"""`benchmark --samplers`: how fast each sampler reaches the image it converges to, and
what each costs per step beyond the network.

Convergence is measured on the demo model (pixel space, seconds per image):
for 8 prompts x 2 seeds, the reference is DPM++ 2M at 200 steps, and DDIM at
200 steps is checked against it (two methods agreeing is what makes it the
image both converge to). Each sampler at each step count is scored by the
mean absolute difference to the reference, in pixel levels (0..255).
The samplers that add fresh noise each step (Euler a, LCM) do not converge to
it: their row says how far from the deterministic image they stay. The demo
model is not distilled for LCM or turbo sampling, so their few-step rows show
what the method does on an ordinary model (it needs only the noise prediction).

The overhead is measured on Stable Diffusion with random weights (real
networks, real sizes): the loop's denoising time minus its network calls,
per step, against the whole step.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from engine.request import GenerationRequest
from engine.samplers import IDS

STEP_COUNTS = (1, 2, 4, 5, 8, 10, 15, 20, 30, 50)  # 1-4: where the few-step samplers work
REFERENCE_STEPS = 200
REFERENCE_SAMPLER = "dpmpp-2m"
GOOD_ENOUGH = 2.0  # pixel levels
SEEDS = (1, 2)
PROMPTS = (
    "a large red circle on the left, blue background",
    "a small yellow square at the top, black background",
    "a large green triangle at the bottom, white background",
    "a large purple square on the right, yellow background",
    "a small white circle in the centre, orange background",
    "a large orange triangle on the right, green background",
    "a small blue triangle on the left, white background",
    "a large black circle at the top, green background",
)
SIZE = 128


@dataclass
class Convergence:
    errors: dict[str, dict[int, float]] = field(default_factory=dict)  # sampler -> steps -> levels
    seconds: dict[str, dict[int, float]] = field(default_factory=dict)  # per image
    reference_agreement: float = 0.0  # DDIM at 200 vs the reference, levels

    def fewest_steps(self, sampler: str) -> Optional[int]:
        within = [n for n, e in self.errors[sampler].items() if e <= GOOD_ENOUGH]
        return min(within) if within else None


def _request(prompt: str, sampler: str, steps: int) -> GenerationRequest:
    # Both seeds in one batch: image i has seed SEEDS[0] + i, as made alone.
    return GenerationRequest(prompt=prompt, seed=SEEDS[0], batch=len(SEEDS), steps=steps,
                             sampler=sampler, width=SIZE, height=SIZE, model="demo", preview=False)


def convergence(backend, samplers=IDS, step_counts=STEP_COUNTS, prompts=PROMPTS,
                reference_steps: int = REFERENCE_STEPS,
                progress: Callable[[str], None] = lambda message: None) -> Convergence:
    """`prompts` and `reference_steps` are smaller only in tests."""
    from engine.sampler import sample

    def images(prompt, sampler, steps):
        started = time.perf_counter()
        out = sample(backend, _request(prompt, sampler, steps)).images.astype(np.float64)
        return out, (time.perf_counter() - started) / len(SEEDS)

    result = Convergence()
    references, agreement = [], []
    for i, prompt in enumerate(prompts):
        progress(f"reference {i + 1}/{len(prompts)}")
        reference, _ = images(prompt, REFERENCE_SAMPLER, reference_steps)
        references.append(reference)
        agreement.append(np.abs(images(prompt, "ddim", reference_steps)[0] - reference).mean())
    result.reference_agreement = float(np.mean(agreement))
    for sampler in samplers:
        result.errors[sampler], result.seconds[sampler] = {}, {}
        for steps in step_counts:
            progress(f"{sampler} at {steps} steps")
            errors, seconds = [], []
            for prompt, reference in zip(prompts, references):
                out, spent = images(prompt, sampler, steps)
                errors.append(np.abs(out - reference).mean())
                seconds.append(spent)
            result.errors[sampler][steps] = float(np.mean(errors))
            result.seconds[sampler][steps] = float(np.median(seconds))
    return result


def overheads(engine, samplers=IDS, steps: int = 5, size: int = 128,
              progress: Callable[[str], None] = lambda message: None) -> dict[str, dict[str, float]]:
    """Per sampler: seconds per step in all, in the network, and the rest (the loop and the
    sampler's own arithmetic), on SD 1.4 with random weights, batch 1, no previews."""
    base = GenerationRequest("a lighthouse at dusk, oil painting", seed=1, steps=steps,
                             width=size, height=size, model="sd-v1.4", preview=False)
    engine.generate(base.replace(steps=1))  # builds and traces outside the timing
    rows = {}
    for sampler in samplers:
        progress(f"overhead of {sampler}")
        t = engine.generate(base.replace(sampler=sampler)).timings
        rest = t["denoising"] - t["model_calls"] - t.get("preview", 0.0)
        rows[sampler] = {"step_s": t["denoising"] / steps, "network_s": t["model_calls"] / steps,
                         "overhead_s": rest / steps, "overhead_share": rest / t["denoising"]}
    return rows


def render(conv: Convergence, over: Optional[dict] = None) -> str:
    from engine.samplers import a1111_name
    counts = sorted({n for row in conv.errors.values() for n in row})
    # The name column fits the longest name (`Euler a SGM Uniform`).
    width = max([16] + [len(a1111_name(s)) + 2 for s in conv.errors])
    lines = [f"Demo model, {len(PROMPTS)} prompts x {len(SEEDS)} seeds, {SIZE}x{SIZE}: mean "
             f"|difference| in pixel levels to {a1111_name(REFERENCE_SAMPLER)} at "
             f"{REFERENCE_STEPS} steps",
             f"DDIM at {REFERENCE_STEPS} steps differs from it by {conv.reference_agreement:.2f} levels",
             "",
             f"{'sampler':<{width}}" + "".join(f"{n:>8}" for n in counts)
             + f"  fewest steps within {GOOD_ENOUGH:g}"]
    for sampler, row in conv.errors.items():
        fewest = conv.fewest_steps(sampler)
        lines.append(f"{a1111_name(sampler):<{width}}" + "".join(f"{row[n]:8.2f}" for n in counts)
                     + f"  {fewest if fewest else '-'}")
    lines += ["", "seconds per image (median)"]
    for sampler, row in conv.seconds.items():
        lines.append(f"{a1111_name(sampler):<{width}}" + "".join(f"{row[n]:8.3f}" for n in counts))
    if over:
        lines += ["", "SD 1.4 (random weights), per step: whole / network / the rest (share)"]
        for sampler, row in over.items():
            lines.append(f"{a1111_name(sampler):<{width}}{row['step_s']:8.3f}s {row['network_s']:8.3f}s "
                         f"{row['overhead_s'] * 1000:8.2f}ms ({100 * row['overhead_share']:.2f}%)")
    return "\n".join(lines)


def to_dict(conv: Convergence, over: Optional[dict] = None) -> dict:
    return {"reference": {"sampler": REFERENCE_SAMPLER, "steps": REFERENCE_STEPS},
            "prompts": list(PROMPTS), "seeds": list(SEEDS), "size": SIZE,
            "ddim_200_vs_reference": conv.reference_agreement,
            "errors": conv.errors, "seconds_per_image": conv.seconds,
            "fewest_steps_within": {"levels": GOOD_ENOUGH,
                                    **{s: conv.fewest_steps(s) for s in conv.errors}},
            "overheads": over or {}}
