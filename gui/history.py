"""What the gallery needs from the history store, and the adapter onto engine.history.

The gallery talks to `HistoryView` only. `StoreAdapter` maps the real store's
records onto `Entry`, so if the store's names change, only this file follows.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Optional, Protocol

from engine.jobs.job import ORIGIN_MARKS
from engine.request import GenerationRequest


@dataclass(frozen=True)
class Entry:
    id: Any
    path: Path
    request: GenerationRequest  # this image's own request: its seed, batch 1
    model_label: str
    created: float  # seconds since the epoch
    favorite: bool = False
    parameters: str = ""  # the A1111 text, as written into the PNG
    thumbnail: Optional[Path] = None  # a small copy, when the store keeps one
    complete: bool = True  # False: a gallery row; HistoryView.get() gives the whole recipe
    origin: str = ""  # who queued it (engine Job.origin): "api" for the HTTP API, "" the window

    @property
    def origin_mark(self) -> str:
        """The short mark the gallery shows on the image ("API"), "" for the window's own."""
        return ORIGIN_MARKS.get(self.origin, self.origin) if self.origin else ""

    @property
    def queued_by(self) -> str:
        """Who queued it, in words, for its tooltip and the details pane; "" for the window's."""
        return f"Queued by: the {self.origin_mark}" if self.origin else ""

    @property
    def title(self) -> str:
        text = " ".join(self.request.prompt.split())
        return text if len(text) <= 60 else text[:57] + "\u2026"

    @property
    def when(self) -> str:
        return datetime.fromtimestamp(self.created).strftime("%Y-%m-%d %H:%M")


class HistoryView(Protocol):
    def count(self, text: str = "", favorites: bool = False) -> int: ...
    def page(self, offset: int, limit: int, text: str = "", favorites: bool = False) -> list[Entry]: ...
    def get(self, entry_id) -> Optional[Entry]: ...
    def set_favorite(self, entry_id, value: bool) -> None: ...
    def delete(self, entry_id) -> None: ...
    def undo_delete(self, entry_id) -> None: ...
    def export(self, entry_ids: Iterable, folder: Path) -> list[Path]: ...
    def add_result(self, result, origin: str = "") -> list: ...  # origin: Job.origin, if not ""


def _timestamp(value) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value).timestamp()
        except ValueError:
            return 0.0
    return 0.0


class StoreAdapter:
    """engine.history.HistoryStore as the gallery's HistoryView.

    Pages hold light entries (the record's columns only); `get` adds the whole
    recipe, which the details pane and "reuse" need.
    """

    def __init__(self, store) -> None:
        self.store = store

    @classmethod
    def open(cls, module, location=None) -> "StoreAdapter":
        return cls(module.HistoryStore(location))

    def _filters(self, text: str, favorites: bool):
        from engine.history import Filters
        return Filters(text=text or "", favorites_only=bool(favorites))

    def _entry(self, record, request: Optional[GenerationRequest]) -> Entry:
        seed = record.seed if record.seed is not None else 0
        complete = request is not None
        if request is None:
            request = GenerationRequest(prompt=record.prompt, seed=seed, width=record.width,
                                        height=record.height, model=record.model)
        parameters = ""
        if request.prompt or request.negative_prompt:
            from engine.pngmeta import format_parameters
            parameters = format_parameters(request, seed, record.model)
        return Entry(id=record.id, path=Path(record.path), request=request,
                     model_label=record.model, created=_timestamp(record.created),
                     favorite=bool(record.favorite), parameters=parameters,
                     complete=complete, origin=record.origin)

    def count(self, text: str = "", favorites: bool = False) -> int:
        return int(self.store.count(self._filters(text, favorites)))

    def page(self, offset: int, limit: int, text: str = "", favorites: bool = False) -> list[Entry]:
        return [self._entry(r, None) for r in
                self.store.page(offset, limit, self._filters(text, favorites))]

    def get(self, entry_id) -> Optional[Entry]:
        detail = self.store.get(entry_id)
        if detail is None or detail.deleted:
            return None
        return self._entry(detail, detail.request)

    def set_favorite(self, entry_id, value: bool) -> None:
        self.store.set_favorite(entry_id, value)

    def delete(self, entry_id) -> None:
        self.store.delete(entry_id)

    def undo_delete(self, entry_id) -> None:
        self.store.undo_delete(entry_id)

    def export(self, entry_ids: Iterable, folder: Path) -> list[Path]:
        return [self.store.export(i, Path(folder)) for i in entry_ids]

    def add_result(self, result, **job) -> list:  # job: uid, skip, origin (engine/jobs/runner.py)
        return [record.id for record in self.store.add_result(result, **job)]

    def saved_for(self, uid: str) -> dict:
        return self.store.saved_for(uid)

    def close(self) -> None:
        self.store.close()
