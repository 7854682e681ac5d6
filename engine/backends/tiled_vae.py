"""The VAE's decoder and encoder over tiles, for images whose activations would not fit.

KerasCV's decoder holds about 3.4 kB of activations per output pixel at its peak
(float32, batch 1: `benchmark --hires` measures it), so 2048x2048 needs about
14 GB at once. Tiles of the latent, each decoded alone with a margin of overlap,
are blended with linear ramps across the overlap: the decoder's group norms see
each tile's own statistics, and the ramps spread what differs between
neighbours over the overlap instead of leaving a step at a tile's edge.

The tile size comes from the memory measured free now (RAM on a CPU, the card's
memory less what is in use on a GPU), not a fixed size: where the whole image
fits, it is decoded in one piece, exactly as before.
"""
from __future__ import annotations

import functools
from typing import Callable, Optional

import numpy as np

# Peak activation bytes per output pixel of one image, fitted to decodes of 256 and
# 512 pixels wide (0.22 GB and 0.88 GB above the built model, float32, this CPU).
DECODE_BYTES_PER_PIXEL = 3.4e3
# The encoder's activations per input pixel: of the decoder's order (the same blocks
# in reverse); the same figure keeps the rule one.
ENCODE_BYTES_PER_PIXEL = DECODE_BYTES_PER_PIXEL
# Of what is free, how much one call may take: the rest is for everything else
# running (the UNet's weights stay loaded, the window, other programs).
USABLE_FRACTION = 0.5
MIN_TILE = 32  # latent cells (256 pixels): smaller tiles see too little context
TILE_STEP = 8  # latent cells: tiles and overlaps stay multiples of 64 pixels


def free_bytes() -> int:
    """Memory free for the next call, measured now: the GPU's where there is one."""
    from engine import compute
    module = compute.current()
    if module.has_gpu():
        stats = module.memory_stats() or {}
        card = _card_bytes()
        if card and stats.get("current") is not None:
            return max(0, card - int(stats["current"]))
    import psutil
    return int(psutil.virtual_memory().available)


@functools.lru_cache(maxsize=1)
def _card_bytes() -> Optional[int]:
    """The first GPU's memory: asked of nvidia-smi (a process of its own) once, not at every
    decode; it does not change while we run."""
    from engine.compute.nvidia_smi import nvidia_gpus
    gpus = nvidia_gpus()
    return gpus[0].memory_bytes if gpus else None


def tile_for(latent_height: int, latent_width: int, batch: int, free: int,
             bytes_per_pixel: float = DECODE_BYTES_PER_PIXEL) -> Optional[int]:
    """The side, in latent cells, of square tiles that fit in `free` bytes; None when the
    whole latent fits (no tiling)."""
    budget = free * USABLE_FRACTION
    def need(h: int, w: int) -> float:
        return bytes_per_pixel * batch * (h * 8) * (w * 8)
    if need(latent_height, latent_width) <= budget:
        return None
    side = int((budget / (bytes_per_pixel * batch)) ** 0.5) // 8  # latent cells
    return max(MIN_TILE, side // TILE_STEP * TILE_STEP)


def overlap_for(tile: int) -> int:
    """A quarter of the tile, in whole steps of 64 pixels: wide enough that the group
    norms' differences fade out across it."""
    return max(TILE_STEP, tile // 4 // TILE_STEP * TILE_STEP)


def tiled(values: np.ndarray, fn: Callable[[np.ndarray], np.ndarray], tile: int, overlap: int,
          up: int = 1, down: int = 1) -> np.ndarray:
    """fn over overlapping square tiles of `values` (B, H, W, C), blended: fn maps a tile
    of (th, tw) to (th * up / down, tw * up / down). Every tile has the same shape (the
    last in a row or column is moved back to end at the edge), so one built network
    serves them all. `tile` and `overlap` are in input cells."""
    batch, height, width = values.shape[:3]
    th, tw = min(tile, height), min(tile, width)
    out = weight = None
    for y in _starts(height, th, overlap):
        for x in _starts(width, tw, overlap):
            part = np.asarray(fn(np.ascontiguousarray(values[:, y:y + th, x:x + tw])), np.float32)
            if out is None:
                out = np.zeros((batch, height * up // down, width * up // down, part.shape[-1]),
                               np.float32)
                weight = np.zeros(out.shape[1:3], np.float32)
            oy, ox, oh, ow = y * up // down, x * up // down, part.shape[1], part.shape[2]
            ramp = np.outer(_ramp(oh, overlap * up // down, y > 0, y + th < height),
                            _ramp(ow, overlap * up // down, x > 0, x + tw < width))
            out[:, oy:oy + oh, ox:ox + ow] += part * ramp[None, ..., None]
            weight[oy:oy + oh, ox:ox + ow] += ramp
    return out / weight[None, ..., None]


def _starts(size: int, tile: int, overlap: int) -> list[int]:
    if tile >= size:
        return [0]
    stride = max(1, tile - overlap)
    starts = list(range(0, size - tile, stride))
    return starts + [size - tile]


def _ramp(length: int, overlap: int, rise: bool, fall: bool) -> np.ndarray:
    """Weights along one side of a tile: rising over the overlap where a neighbour comes
    before, falling where one comes after; never zero, so every pixel is covered."""
    weights = np.ones(length, np.float32)
    overlap = min(overlap, length // 2)
    if overlap <= 0:
        return weights
    edge = (np.arange(overlap, dtype=np.float32) + 0.5) / overlap
    if rise:
        weights[:overlap] = np.minimum(weights[:overlap], edge)
    if fall:
        weights[-overlap:] = np.minimum(weights[-overlap:], edge[::-1])
    return weights
