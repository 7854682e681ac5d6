"""PyTorch: eager calls without autograd."""
from __future__ import annotations

from typing import Callable, Optional

import keras
import torch

NAME = "torch"


def _to_numpy(tree):
    return keras.tree.map_structure(lambda t: t.detach().cpu().numpy(), tree)


def compiled(model_or_fn, jit: bool = False) -> Callable:
    """`model_or_fn` eagerly with autograd off, whatever `jit` says: keras.io's
    Stable Diffusion guide runs PyTorch with jit_compile=False, and torch.compile
    has not been measured to pay for its compile here. numpy in, numpy out;
    inputs go to the device Keras uses."""
    if isinstance(model_or_fn, keras.Model):
        model = model_or_fn
        fn = lambda *args: model(*args, training=False)  # noqa: E731
    else:
        fn = model_or_fn

    def call(*args):
        with torch.no_grad():
            outputs = fn(*keras.tree.map_structure(keras.ops.convert_to_tensor, args))
        return _to_numpy(outputs)
    return call


def _kind() -> str:
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def device_name() -> str:
    kind = _kind()
    if kind == "cuda":
        return f"GPU: {torch.cuda.get_device_name(0)}"
    return "MPS" if kind == "mps" else "CPU"


def has_gpu() -> bool:
    return _kind() != "cpu"


def is_out_of_memory(error: BaseException) -> bool:
    if isinstance(error, MemoryError):
        return True
    out_of_memory = getattr(torch, "OutOfMemoryError", None) or getattr(torch.cuda, "OutOfMemoryError", None)
    if out_of_memory is not None and isinstance(error, out_of_memory):
        return True
    # MPS reports it as a plain RuntimeError.
    return isinstance(error, RuntimeError) and "out of memory" in str(error)


def memory_stats() -> Optional[dict]:
    """{"peak": bytes, "current": bytes} on a CUDA GPU; on MPS the peak is None
    (PyTorch keeps none there); None on a CPU."""
    kind = _kind()
    if kind == "cuda":
        return {"peak": int(torch.cuda.max_memory_allocated()), "current": int(torch.cuda.memory_allocated())}
    if kind == "mps":
        return {"peak": None, "current": int(torch.mps.current_allocated_memory())}
    return None


def reset_peak_memory() -> None:
    if _kind() == "cuda":
        torch.cuda.reset_peak_memory_stats()


def grow_memory() -> None:
    """Nothing to do: PyTorch's caching allocator already takes memory as needed."""
