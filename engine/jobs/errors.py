"""An error as a title and a message a person can act on; the engine's own errors already carry one."""
from __future__ import annotations

from engine.errors import EngineError, InvalidRequest, MissingWeights, OutOfMemory

OUT_OF_MEMORY_HINT = ("The computer ran out of memory. Try a smaller size, a batch of 1 or "
                      "mixed precision.")


def describe_error(error: BaseException) -> tuple[str, str]:
    if isinstance(error, InvalidRequest):
        return "Invalid request", str(error)
    if isinstance(error, MissingWeights):
        return "Missing model weights", str(error)
    if isinstance(error, (OutOfMemory, MemoryError)):
        return "Out of memory", str(error) or OUT_OF_MEMORY_HINT
    if isinstance(error, EngineError):
        return "Generation failed", str(error)
    return "Unexpected error", f"{type(error).__name__}: {error}"
