"""The one error a batch raises before anything runs: every problem, each with its place."""
from __future__ import annotations


class BatchError(ValueError):
    """`problems` are whole sentences, each naming its line or axis."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))
