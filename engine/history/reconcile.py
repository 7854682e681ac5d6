"""Keeping the database true to the folder: the files are what matters.

- A file with no row (a crash between rename and commit, a copy dropped in,
  a database rebuilt from nothing) is imported from its own PNG metadata.
- A row whose file has gone is marked missing, not deleted: a folder on a
  drive that comes back brings its images back.
- A row whose file moved between images/ and trash/ (a crash during delete
  or undo) is relinked by the file's unique name.
- A database SQLite reports as damaged is moved aside and rebuilt.
"""
from __future__ import annotations

import os
import re
from contextlib import contextmanager
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from engine.history.schema import HistoryError, connect, migrate, transaction
from engine.paths import HistoryLocation
from engine.pngmeta import read_png_metadata

# Left by a writer killed mid-save; younger ones may belong to a writer still at work.
STALE_TEMP_SECONDS = 3600
IMPORT_BATCH = 200

_NAME = re.compile(r"^(\d{8}-\d{6}\.\d{6})-([0-9a-f]{12})-(\d+)\.png$")
_SQLITE_CORRUPT, _SQLITE_NOTADB = 11, 26


@dataclass
class ReconcileReport:
    imported: int = 0
    relinked: int = 0
    marked_missing: int = 0
    found_again: int = 0
    removed_temp: int = 0
    favorites_kept: int = 0  # copied from a replaced or damaged database
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, why it was not imported)

    def summary(self) -> str:
        text = (f"{self.imported} imported, {self.relinked} relinked, {self.marked_missing} marked "
                f"missing, {self.found_again} found again, {self.removed_temp} stale temp files removed")
        if self.favorites_kept:
            text += f", {self.favorites_kept} favorites kept from the old database"
        if self.skipped:
            text += f", {len(self.skipped)} unreadable file(s) skipped"
        return text


# ------------------------------------------------------------ the database file

def set_aside(db_path: Path, why: str) -> Optional[Path]:
    """Renames the database and its WAL files out of the way; returns the new name."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    target = db_path.with_name(f"{db_path.name}.{why}-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = db_path.with_name(f"{db_path.name}.{why}-{stamp}-{n}")
    moved = None
    for suffix in ("", "-wal", "-shm"):
        source = Path(str(db_path) + suffix)
        if source.exists():
            os.replace(source, Path(str(target) + suffix))
            moved = moved or target
    return moved


def _damaged(error: sqlite3.DatabaseError) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    return code is not None and (code & 0xFF) in (_SQLITE_CORRUPT, _SQLITE_NOTADB)


def open_or_set_aside(location: HistoryLocation) -> Optional[Path]:
    """Makes sure a sound, current database exists; returns where a damaged one went, if any.

    Only corruption moves the file: "locked" or "no permission" are raised as
    they are, since rebuilding would not fix them and would lose favorites.
    """
    db_path = location.db_path
    if not db_path.exists():
        # A WAL without its database belongs to nothing now. SQLite ignored one beside a
        # new, empty file in our trials; not leaving that to chance costs nothing.
        for suffix in ("-wal", "-shm"):
            Path(str(db_path) + suffix).unlink(missing_ok=True)
    damaged = None
    conn = None
    try:
        conn = connect(db_path)
        verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
        if verdict != "ok":
            raise sqlite3.DatabaseError(f"quick_check: {verdict}")
        migrate(conn)
    except sqlite3.DatabaseError as error:
        if conn is not None:
            conn.close()
            conn = None
        if not (_damaged(error) or str(error).startswith("quick_check")):
            raise HistoryError(f"Cannot open the history database {db_path}: {error}") from error
        damaged = set_aside(db_path, "damaged")
        conn = connect(db_path)
        migrate(conn)
    finally:
        if conn is not None:
            conn.close()
    return damaged


def salvage_favorites(conn: sqlite3.Connection, old_db: Path) -> int:
    """Favorites live only in the database; copy them from an old file, as far as it reads.

    Matched by file name, which is unique for our own files. Opened read-only:
    the old file stays exactly as it was found.
    """
    try:
        old = sqlite3.connect(f"{old_db.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return 0
    try:
        names = {path.rsplit("/", 1)[-1] for (path,) in
                 old.execute("SELECT path FROM images WHERE favorite = 1")}
    except sqlite3.Error:
        return 0
    finally:
        old.close()
    if not names:
        return 0
    cursor = conn.cursor()
    cursor.row_factory = None
    ids = [(image_id,) for image_id, path in cursor.execute("SELECT id, path FROM images")
           if path.rsplit("/", 1)[-1] in names]
    with transaction(conn):
        conn.executemany("UPDATE images SET favorite = 1 WHERE id = ?", ids)
    return len(ids)


# ------------------------------------------------------------ the folder

def _scan(location: HistoryLocation, report: ReconcileReport) -> dict[str, str]:
    """Every PNG under images/ and trash/: {path relative to the history folder: full path}.

    Plain strings and scandir, not Path objects: at 10,000 files this loop is
    most of the time it takes to open the store.
    """
    found: dict[str, str] = {}
    now = time.time()
    stack = [(str(top), top.name + "/") for top in (location.images_dir, location.trash_dir)]
    while stack:
        folder, prefix = stack.pop()
        try:
            entries = os.scandir(folder)
        except FileNotFoundError:
            continue
        with entries:
            for entry in entries:
                name = entry.name
                if entry.is_dir(follow_symlinks=False):
                    if not name.startswith("."):
                        stack.append((entry.path, prefix + name + "/"))
                elif name.startswith(".tmp-"):
                    try:
                        if now - entry.stat().st_mtime > STALE_TEMP_SECONDS:
                            os.unlink(entry.path)
                            report.removed_temp += 1
                    except FileNotFoundError:
                        pass
                elif not name.startswith(".") and name.lower().endswith(".png"):
                    rel = prefix + name
                    why = _unlistable(entry, rel)
                    if why:
                        report.skipped.append((printable(rel), why))
                    else:
                        found[rel] = entry.path
    return found


def printable(name: str) -> str:
    """A file name as a person can read it, even one whose bytes are not UTF-8."""
    return os.fsencode(name).decode("utf-8", "replace")


def _unlistable(entry: os.DirEntry, rel: str) -> Optional[str]:
    """Why a *.png entry cannot be in the history, or None. Never opens the file."""
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        # The database holds text; such a name would be stored as something else.
        return "its name is not valid UTF-8: rename it to bring it into the history"
    try:
        if not entry.is_file():  # follows a link, to see what it points at
            return "not a regular file (a folder, pipe, device or broken link)"
    except OSError as error:
        return f"cannot be examined: {error.strerror or error}"
    return None


@contextmanager
def _nothing():
    yield


def _in_trash(rel: str) -> bool:
    return rel.startswith("trash/")


def reconcile(conn: sqlite3.Connection, location: HistoryLocation) -> ReconcileReport:
    report = ReconcileReport()
    # Rows before files: a row committed after this read has its file on disk before the scan
    # (files are renamed into place before their row commits), so it cannot look vanished.
    cursor = conn.cursor()
    cursor.row_factory = None  # plain tuples: thousands of rows
    rows = {path: (image_id, missing) for image_id, path, missing in
            cursor.execute("SELECT id, path, missing FROM images")}
    on_disk = _scan(location, report)

    unknown = {rel: Path(path) for rel, path in on_disk.items() if rel not in rows}
    vanished = [(rel, image_id, missing) for rel, (image_id, missing) in rows.items()
                if rel not in on_disk]
    back = [image_id for rel, (image_id, missing) in rows.items() if rel in on_disk and missing]
    unknown_by_name: dict[str, str] = {}
    for rel in unknown:
        unknown_by_name.setdefault(rel.rsplit("/", 1)[-1], rel)

    with transaction(conn) if back or vanished else _nothing():  # no lock when all is well
        if back:
            conn.executemany("UPDATE images SET missing = 0 WHERE id = ?", [(i,) for i in back])
            report.found_again = len(back)
        for rel, image_id, missing in vanished:
            moved_to = unknown_by_name.get(rel.rsplit("/", 1)[-1])
            if moved_to is not None and moved_to in unknown and not conn.execute(
                    "SELECT 1 FROM images WHERE path = ?", (moved_to,)).fetchone():
                # (That last check: another process may have listed the file since our read.)
                was_deleted = conn.execute("SELECT deleted_at FROM images WHERE id = ?",
                                           (image_id,)).fetchone()[0]
                deleted_at = (was_deleted or time.time()) if _in_trash(moved_to) else None
                conn.execute("UPDATE images SET path = ?, deleted_at = ?, missing = 0 WHERE id = ?",
                             (moved_to, deleted_at, image_id))
                del unknown[moved_to]
                report.relinked += 1
            elif not missing and not (location.root / rel).exists():
                conn.execute("UPDATE images SET missing = 1 WHERE id = ?", (image_id,))
                report.marked_missing += 1

    # One stamp for the whole run, so the trash found today is one "undo" away, not one per file.
    found_at = time.time()
    pending = sorted(unknown.items())
    for start in range(0, len(pending), IMPORT_BATCH):
        batch = []
        for rel, path in pending[start:start + IMPORT_BATCH]:
            try:
                batch.append((rel, path, read_png_metadata(path, verify=True)))
            except Exception as error:  # noqa: BLE001 - anyone's file: PIL may raise anything
                # Not deleted: it may be a file the person cares about, or still being copied in.
                report.skipped.append((printable(rel), _why(error)))
        with transaction(conn):
            for rel, path, meta in batch:
                # One file's failure must not undo the others' imports, nor half-import it.
                conn.execute("SAVEPOINT one_file")
                try:
                    imported = _import(conn, rel, path, meta, found_at)
                except (sqlite3.Error, OSError, ValueError, OverflowError) as error:
                    conn.execute("ROLLBACK TO one_file")
                    report.skipped.append((printable(rel), _why(error)))
                    imported = False
                conn.execute("RELEASE one_file")
                report.imported += imported
    return report


def _why(error: BaseException) -> str:
    text = str(error) if not isinstance(error, OSError) else (error.strerror or str(error))
    return printable(f"{type(error).__name__}: {text}" if text else type(error).__name__)


def _import(conn: sqlite3.Connection, rel: str, path: Path, meta, found_at: float) -> bool:
    """One file into the database from its own metadata; False if a writer got there first."""
    if conn.execute("SELECT 1 FROM images WHERE path = ?", (rel,)).fetchone():
        return False
    match = _NAME.match(rel.rsplit("/", 1)[-1])
    uid = match.group(2) if match else None
    if match:
        moment = datetime.strptime(match.group(1), "%Y%m%d-%H%M%S.%f").replace(tzinfo=timezone.utc)
        created = moment.timestamp()
    else:
        created = path.stat().st_mtime
    generation_id = None
    if uid is not None:
        row = conn.execute("SELECT id FROM generations WHERE uid = ?", (uid,)).fetchone()
        generation_id = row[0] if row else None
    if generation_id is None:
        request = meta.request
        batch_request = None
        if request is not None:
            batch_seed = meta.batch_seed if meta.batch_seed is not None else request.seed
            batch_request = request.replace(seed=batch_seed) if batch_seed is not None else request
        generation_id = conn.execute(
            """INSERT INTO generations (uid, created, prompt, negative_prompt, request_json,
                   model, seed, status)
               VALUES (?, ?, ?, ?, ?, ?, ?, 'imported')""",
            (uid, created, request.prompt if request else "",
             request.negative_prompt if request else "",
             batch_request.to_json() if batch_request else None,
             meta.model_label or "", _int64(meta.batch_seed)),
        ).lastrowid
    deleted_at = found_at if _in_trash(rel) else None
    conn.execute(
        """INSERT INTO images (generation_id, path, seed, width, height, created, deleted_at)
           VALUES (?, ?, ?, ?, ?, ?, ?)""",
        (generation_id, rel, _int64(meta.seed), meta.width, meta.height, created, deleted_at))
    return True



def _int64(value: Optional[int]) -> Optional[int]:
    """Other tools' seeds can be anything; SQLite's integers stop at 64 bits."""
    return value if value is not None and -2**63 <= value < 2**63 else None
