"""What the gallery needs from the history store, and the adapter onto engine.history.

The gallery talks to `HistoryView` only. `StoreAdapter` maps the real store's
records onto `Entry`, so if the store's names change, only this file follows.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Optional, Protocol

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
    def add_result(self, result) -> list: ...


def _first(obj, *names, default=None):
    for name in names:
        if isinstance(obj, dict) and name in obj:
            return obj[name]
        if hasattr(obj, name):
            return getattr(obj, name)
    return default


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
    """Wraps engine.history's store in the HistoryView the gallery uses."""

    def __init__(self, store) -> None:
        self.store = store

    @classmethod
    def open(cls, module) -> "StoreAdapter":
        for name in ("open_store", "open_history", "HistoryStore", "History"):
            factory = getattr(module, name, None)
            if factory is not None:
                return cls(factory())
        raise ImportError("engine.history has no store to open")

    def to_entry(self, record) -> Entry:
        request = _first(record, "request")
        if isinstance(request, dict):
            request = GenerationRequest.from_dict(request)
        seed = _first(record, "seed")
        if request is not None and seed is not None:
            request = request.replace(seed=int(seed), batch=1)
        thumb = _first(record, "thumbnail_path", "thumb_path", "thumbnail")
        return Entry(
            id=_first(record, "id"),
            path=Path(_first(record, "path", "image_path", "file")),
            request=request,
            model_label=str(_first(record, "model_label", "model", default="")),
            created=_timestamp(_first(record, "created", "created_at", "timestamp", default=0)),
            favorite=bool(_first(record, "favorite", "is_favorite", default=False)),
            parameters=str(_first(record, "parameters", "parameters_text", default="") or ""),
            thumbnail=Path(thumb) if isinstance(thumb, (str, Path)) and thumb else None,
        )

    def _filters(self, text: str, favorites: bool) -> dict:
        return {"text": text or None, "favorites": bool(favorites)}

    def count(self, text: str = "", favorites: bool = False) -> int:
        return int(self.store.count(**self._filters(text, favorites)))

    def page(self, offset: int, limit: int, text: str = "", favorites: bool = False) -> list[Entry]:
        return [self.to_entry(r) for r in
                self.store.page(offset, limit, **self._filters(text, favorites))]

    def get(self, entry_id) -> Optional[Entry]:
        record = self.store.get(entry_id)
        return None if record is None else self.to_entry(record)

    def set_favorite(self, entry_id, value: bool) -> None:
        self.store.set_favorite(entry_id, value)

    def delete(self, entry_id) -> None:
        self.store.delete(entry_id)

    def undo_delete(self, entry_id) -> None:
        for name in ("undo_delete", "restore", "undelete"):
            fn = getattr(self.store, name, None)
            if fn is not None:
                fn(entry_id)
                return
        raise RuntimeError("This history store cannot undo a delete.")

    def export(self, entry_ids: Iterable, folder: Path) -> list[Path]:
        fn = getattr(self.store, "export", None)
        if fn is not None:
            return list(fn(list(entry_ids), Path(folder)) or [])
        return export_copies([self.get(i) for i in entry_ids], folder)

    def add_result(self, result) -> list:
        saved = self.store.add_result(result) or []
        return [_first(s, "id", default=s) for s in saved]

    def close(self) -> None:
        closer = getattr(self.store, "close", None)
        if closer is not None:
            closer()


def export_copies(entries: Iterable[Optional[Entry]], folder: Path) -> list[Path]:
    """Plain file copies with the metadata inside; never overwrites a file already there."""
    out = []
    folder = Path(folder)
    for entry in entries:
        if entry is None:
            continue
        target = folder / entry.path.name
        n = 1
        while target.exists():
            target = folder / f"{entry.path.stem}-{n}{entry.path.suffix}"
            n += 1
        shutil.copy2(entry.path, target)
        out.append(target)
    return out
