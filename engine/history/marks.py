"""Favourites and trash marks, kept where a rebuilt database finds them again.

The database holds them for queries; this journal beside it is what brings
them back when the database is lost, emptied, damaged or rebuilt from the
images (the PNGs carry the recipe, not these marks). One JSON object a line,
appended under the database's write lock, so lines from several processes
are in commit order; the last line about a file wins.

Why a journal and not the PNG's own chunk: rewriting a 512x512 PNG with a
new chunk cost about 60 times an fsynced journal line here, and would touch
the person's images on every click.

A file is named by its path below images/ or trash/ ("2026-11/<name>.png"),
which a move to the trash and back keeps.
"""
from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

from engine import json_file

# Rewritten from the database past this size; a line is about 90 bytes.
COMPACT_BYTES = 1 << 20
MAX_LINE = 4096


@dataclass(frozen=True)
class Mark:
    favorite: bool = False
    deleted_at: Optional[float] = None  # set while the file is in the trash


def key(rel: str) -> str:
    """`images/2026-11/a.png` and `trash/2026-11/a.png` are the same file."""
    return rel.split("/", 1)[1] if "/" in rel else rel


class MarksJournal:
    def __init__(self, path: Path):
        self.path = Path(path)

    def record(self, marks: Iterable[tuple[str, Mark]]) -> None:
        """Appends each file's whole mark; raises OSError if it cannot (the caller's
        transaction then rolls back, so the database never has a mark the journal lacks)."""
        lines = "".join(json.dumps({"p": key(rel), "f": mark.favorite, "d": mark.deleted_at},
                                   ensure_ascii=False) + "\n" for rel, mark in marks)
        if not lines:
            return
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(lines)
            handle.flush()
            os.fsync(handle.fileno())

    def read(self) -> dict[str, Mark]:
        """Every file's last mark. A torn last line (a crash mid-append) or anything
        else that is not one of our lines is passed over."""
        marks: dict[str, Mark] = {}
        try:
            handle = open(self.path, "r", encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return marks
        with handle:
            for line in handle:
                if len(line) > MAX_LINE:
                    continue
                try:
                    entry = json_file.loads(line, limit=2)
                    name, favorite, deleted = entry["p"], entry["f"], entry["d"]
                except (ValueError, KeyError, TypeError):
                    continue
                if isinstance(name, str) and isinstance(favorite, bool) and (
                        deleted is None or isinstance(deleted, (int, float))
                        and not isinstance(deleted, bool)):
                    marks[name] = Mark(favorite, None if deleted is None else float(deleted))
        return marks

    def needs_compacting(self) -> bool:
        try:
            return self.path.stat().st_size > COMPACT_BYTES
        except OSError:
            return False

    def rewrite(self, marks: Iterable[tuple[str, Mark]]) -> None:
        """Replaces the journal with these marks only, atomically (call under the write lock)."""
        tmp = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex}.tmp")
        try:
            MarksJournal(tmp).record(marks)
            tmp.touch()
            os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)
