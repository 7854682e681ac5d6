"""When to suggest hires fix: a size above what the model draws well in one pass."""
from __future__ import annotations

from typing import Optional

from engine.models.families import BY_ID


def size_note(model_id: str, width: int, height: int, hires_on: bool) -> Optional[str]:
    """A sentence for under the size fields, or None. The size stays allowed."""
    from engine.models import registry
    try:
        family = registry.get_model(model_id).family
    except KeyError:
        return None
    known = BY_ID.get(family)
    if known is None or not known.one_pass_side or hires_on:
        return None
    if max(width, height) <= known.one_pass_side:
        return None
    return (f"{known.label} draws well up to {known.one_pass_side} px a side; at {width}\u00d7{height} "
            "subjects may repeat. Generate smaller and turn on Hires fix to reach this size.")
