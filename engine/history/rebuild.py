"""`history rebuild --from-images`: a new index from the image files alone, swapped in at once.

The new index is built in an in-memory database by the same import that
reconcile uses, then one write transaction replaces the old rows with it.
Nothing is renamed or set aside, so:
- a kill at any moment leaves the old index or the new one (SQLite's own atomicity);
- another process with the store open (the window) sees one more commit, and
  its image ids still point at the same files;
- tables other modules keep in the file (the job queue) are not touched.
"""
from __future__ import annotations

import sqlite3

from engine.history.marks import Mark, MarksJournal
from engine.history.reconcile import ReconcileReport, reconcile
from engine.history.schema import migrate, transaction
from engine.paths import HistoryLocation

_IMAGE_COLUMNS = ("generation_id", "path", "seed", "width", "height", "created", "favorite",
                  "deleted_at")
_GENERATION_COLUMNS = ("uid", "created", "prompt", "negative_prompt", "request_json", "model",
                       "seed", "device", "timings_json", "origin", "status")


def rebuild(conn: sqlite3.Connection, location: HistoryLocation) -> ReconcileReport:
    # Rows up to here are replaced; rows committed later (a save racing the rebuild) are
    # newer than the folder listing below may be, so they stay as they are.
    before = conn.execute("SELECT coalesce(max(id), 0) FROM images").fetchone()[0]
    fresh = sqlite3.connect(":memory:", isolation_level=None)
    fresh.row_factory = sqlite3.Row
    try:
        migrate(fresh)
        report = reconcile(fresh, location, full=True)
        with transaction(conn):
            report.favorites_kept = _swap(conn, fresh, before)
            _copy_listing(conn, fresh)
            _rewrite_journal(conn, MarksJournal(location.marks_path))
    finally:
        fresh.close()
    return report


def _swap(conn: sqlite3.Connection, fresh: sqlite3.Connection, before: int) -> int:
    """Replaces rows up to `before` with `fresh`'s; returns how many favourites the old rows gave."""
    old = {row["path"]: row for row in conn.execute(
        "SELECT id, path, favorite, deleted_at FROM images WHERE id <= ?", (before,))}
    newer = {path for (path,) in conn.execute("SELECT path FROM images WHERE id > ?", (before,))}
    conn.execute("DELETE FROM images WHERE id <= ?", (before,))
    conn.execute("DELETE FROM generations WHERE NOT EXISTS "
                 "(SELECT 1 FROM images WHERE images.generation_id = generations.id)")

    generation_ids = {}
    for row in fresh.execute(f"SELECT id, {', '.join(_GENERATION_COLUMNS)} FROM generations"):
        existing = conn.execute("SELECT id FROM generations WHERE uid = ?",
                                (row["uid"],)).fetchone() if row["uid"] else None
        generation_ids[row["id"]] = existing[0] if existing else conn.execute(
            f"INSERT INTO generations ({', '.join(_GENERATION_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(_GENERATION_COLUMNS))})",
            tuple(row[c] for c in _GENERATION_COLUMNS)).lastrowid

    kept_favorites = 0
    rows = fresh.execute(f"SELECT {', '.join(_IMAGE_COLUMNS)} FROM images").fetchall()
    # Known files first, with their old ids, so that a new row's id can never take one.
    rows.sort(key=lambda row: row["path"] not in old)
    for row in rows:
        if row["path"] in newer:
            continue
        values = dict(row)
        values["generation_id"] = generation_ids[row["generation_id"]]
        prior = old.get(row["path"])
        image_id = None
        if prior is not None:
            image_id = prior["id"]
            # The old row is the latest word on marks; the journal says the same unless lost.
            kept_favorites += bool(prior["favorite"]) and not row["favorite"]
            values["favorite"] = prior["favorite"] or row["favorite"]
            if row["deleted_at"] is not None and prior["deleted_at"] is not None:
                values["deleted_at"] = prior["deleted_at"]
        conn.execute(f"INSERT INTO images (id, {', '.join(_IMAGE_COLUMNS)}) "
                     f"VALUES (?, {', '.join('?' * len(_IMAGE_COLUMNS))})",
                     (image_id, *(values[c] for c in _IMAGE_COLUMNS)))
    return kept_favorites


def _copy_listing(conn: sqlite3.Connection, fresh: sqlite3.Connection) -> None:
    for table in ("scanned_folders", "skipped_files"):
        rows = fresh.execute(f"SELECT * FROM {table}").fetchall()
        conn.execute(f"DELETE FROM {table}")
        if rows:
            conn.executemany(f"INSERT OR REPLACE INTO {table} VALUES "
                             f"({', '.join('?' * len(rows[0]))})", [tuple(r) for r in rows])


def _rewrite_journal(conn: sqlite3.Connection, journal: MarksJournal) -> None:
    """The journal, compacted to what the new index holds (under the same write lock)."""
    journal.rewrite((path, Mark(bool(favorite), deleted_at)) for path, favorite, deleted_at in
                    conn.execute("SELECT path, favorite, deleted_at FROM images "
                                 "WHERE favorite = 1 OR deleted_at IS NOT NULL"))
