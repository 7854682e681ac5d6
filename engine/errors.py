"""The errors whose messages are written for the person using the app.

The lowest layer of the engine (it imports nothing of it), so the model library,
the backends and the step loop can all raise them without importing each other.
"""
from __future__ import annotations


class EngineError(Exception):
    """An error whose message is written for the person using the app."""


class InvalidRequest(EngineError):
    def __init__(self, problems: list):  # engine.request.Problem each (request sits above)
        self.problems = problems
        super().__init__("\n".join(p.message for p in problems))


class MissingWeights(EngineError):
    def __init__(self, model_id: str, missing: list[tuple[str, list[str]]]):
        """`missing` holds (file name, folders it was looked for in)."""
        self.model_id = model_id
        self.missing = missing
        lines = [f"Model {model_id} is missing {len(missing)} weight file(s):"]
        for name, places in missing:
            lines.append(f"  {name} (looked in: {', '.join(places)})")
        lines.append(f"Download them with `python main.py models download {model_id}`, "
                     "or point --weights-dir at a folder that holds them.")
        super().__init__("\n".join(lines))


class OutOfMemory(EngineError):
    pass
