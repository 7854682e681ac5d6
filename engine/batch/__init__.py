"""Batches: many requests from a prompt file and grid axes, a labelled grid image,
and the executors that run them (this process, or actors on a Ray cluster).

Nothing here imports Qt; the Ray executor imports Ray only when it is used.
"""
from engine.batch.errors import BatchError

__all__ = ["BatchError"]
