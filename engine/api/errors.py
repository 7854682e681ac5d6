"""A refusal of an HTTP request: the status and, per field, a sentence a person can act on,
in the shape FastAPI gives its own 422s (`detail: [{loc, msg, type}]`), so a client reads
ours and the schema's alike."""
from __future__ import annotations

from typing import Iterable, Union

Location = Union[str, tuple]


class ApiProblem(Exception):
    def __init__(self, problems: Iterable[tuple[Location, str]], status: int = 422) -> None:
        self.problems = [((where,) if isinstance(where, str) else tuple(where), message)
                         for where, message in problems]
        self.status = status
        super().__init__(" ".join(message for _, message in self.problems))

    @classmethod
    def one(cls, where: Location, message: str, status: int = 422) -> "ApiProblem":
        return cls([(where, message)], status)

    def detail(self) -> list[dict]:
        return [{"loc": ["body", *where], "msg": message, "type": "value_error"}
                for where, message in self.problems]
