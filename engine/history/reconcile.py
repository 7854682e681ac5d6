"""Keeping the database true to the folder: the files are what matters.

- A file with no row (a crash between rename and commit, a copy dropped in,
  a database rebuilt from nothing) is imported from its own PNG metadata.
- A row whose file has gone is marked missing, not deleted: a folder on a
  drive that comes back brings its images back.
- A row whose file moved between images/ and trash/ (a crash during delete
  or undo) is relinked by the file's unique name.
- A database SQLite reports as damaged is moved aside and rebuilt; tables
  other modules keep in the same file (the job queue) are carried over, and
  favourites and trash marks come back from their journal (marks.py).

Opening lists only folders whose own modification time changed since the
last listing (adding, removing or renaming a file changes it); `full=True`
lists everything.
"""
from __future__ import annotations

import json
import os
import re
from contextlib import contextmanager
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from engine import json_file
from engine.history.marks import Mark, MarksJournal, key as mark_key
from engine.history.schema import (OWN_TABLES, HistoryError, clean_origin, connect,
                                   lenient_text, migrate, schema_problem, transaction)
from engine.paths import HistoryLocation
from engine.pngmeta import read_png_metadata

# Left by a writer killed mid-save; younger ones may belong to a writer still at work.
STALE_TEMP_SECONDS = 3600
IMPORT_BATCH = 200
# A folder changed this recently may change again within its clock's tick unseen: list it next time too.
RACY_SECONDS = 3
SET_ASIDE_KEPT = 2

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
    marks_restored: int = 0  # favourites and trash stamps brought back from the journal
    folders_listed: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, why it was not imported)

    def summary(self) -> str:
        text = (f"{self.imported} imported, {self.relinked} relinked, {self.marked_missing} marked "
                f"missing, {self.found_again} found again, {self.removed_temp} stale temp files removed")
        if self.favorites_kept:
            text += f", {self.favorites_kept} favorites kept from the old database"
        if self.marks_restored:
            text += f", {self.marks_restored} favorite/trash marks restored from the journal"
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
    if code is not None and (code & 0xFF) in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
        return True
    # A damaged byte in a stored table definition (the full-text index's, say) comes back
    # as a plain error about parsing it; nothing but damage makes our own schema unparsable.
    text = str(error)
    return any(sign in text for sign in ("parse error in", "malformed database schema",
                                         "invalid fts5 file format"))


def open_or_set_aside(location: HistoryLocation) -> Optional[Path]:
    """Makes sure a sound, current database exists; returns where a damaged one went, if any.

    Only corruption moves the file: "locked" or "no permission" are raised as
    they are, since rebuilding would not fix them and would lose favorites.
    The replacement is built complete under another name first (with the
    tables other modules own, as far as the old file still reads), so a crash
    at any moment leaves either the old file or the new one in place.
    """
    db_path = location.db_path
    finished = _finish_interrupted_switch(db_path)
    if finished is not None:
        return finished
    if not db_path.exists():
        # A WAL without its database belongs to nothing now. SQLite ignored one beside a
        # new, empty file in our trials; not leaving that to chance costs nothing.
        for suffix in ("-wal", "-shm"):
            Path(str(db_path) + suffix).unlink(missing_ok=True)
    conn = None
    try:
        conn = connect(db_path)
        if _stamp(db_path) != _checked_stamp(db_path):
            # integrity_check, not quick_check: it also compares each index with its table,
            # and a damaged index passed quick_check, then failed every page query.
            verdict = conn.execute("PRAGMA integrity_check").fetchone()[0]
            if verdict != "ok":
                raise sqlite3.DatabaseError(f"quick_check: {verdict}")
            problem = schema_problem(conn)
            if problem:
                raise sqlite3.DatabaseError(f"quick_check: {problem}")
            migrate(conn)
            _save_checked_stamp(db_path)
        else:
            migrate(conn)
        return None
    except (sqlite3.DatabaseError, UnicodeDecodeError) as error:
        if conn is not None:
            conn.close()
            conn = None
        if not (isinstance(error, UnicodeDecodeError) or _damaged(error)
                or str(error).startswith("quick_check")):
            raise HistoryError(f"Cannot open the history database {db_path}: {error}") from error
    finally:
        if conn is not None:
            conn.close()
    fresh = _fresh_name(db_path)
    for suffix in ("", "-wal", "-shm"):
        Path(str(fresh) + suffix).unlink(missing_ok=True)
    conn = connect(fresh)
    try:
        migrate(conn)
        carry_foreign_tables(db_path, conn)
    finally:
        conn.close()  # a clean close folds the WAL into the file: one file to rename
    damaged = set_aside(db_path, "damaged")
    os.replace(fresh, db_path)
    remove_old_set_asides(db_path)
    return damaged


# quick_check reads every page: it runs only when the file changed since it last passed,
# which the file's size, time and inode tell, with its WAL's size (the WAL itself is made
# anew by each first connection, so its time and inode say nothing).
def _stamp(db_path: Path) -> list:
    try:
        info = os.stat(db_path)
    except OSError:
        return []
    try:
        wal = os.stat(str(db_path) + "-wal").st_size
    except OSError:
        wal = 0
    return [info.st_size, info.st_mtime_ns, info.st_ino, wal]


def _checked_name(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".checked")


def _checked_stamp(db_path: Path) -> Optional[list]:
    try:
        return json_file.read(_checked_name(db_path), max_bytes=64 * 1024)
    except (OSError, ValueError):  # absent or damaged: the folder is simply checked again
        return None


def _save_checked_stamp(db_path: Path) -> None:
    target = _checked_name(db_path)
    tmp = target.with_name(target.name + ".tmp")
    try:
        tmp.write_text(json.dumps(_stamp(db_path)), encoding="utf-8")
        os.replace(tmp, target)
    except OSError:
        pass  # a read-only folder: the check just runs again next time


def _fresh_name(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".new")


def _finish_interrupted_switch(db_path: Path) -> Optional[Path]:
    """A replacement is renamed into place only once complete: if the old file is
    already gone, finish the move and return where the old one went; if not, the
    replacement was never used."""
    fresh = _fresh_name(db_path)
    if not fresh.exists():
        return None
    if db_path.exists():
        for suffix in ("", "-wal", "-shm"):
            Path(str(fresh) + suffix).unlink(missing_ok=True)
        return None
    os.replace(fresh, db_path)
    aside = sorted(db_path.parent.glob(db_path.name + ".damaged-*"), key=lambda p: p.stat().st_mtime)
    aside = [p for p in aside if not p.name.endswith(("-wal", "-shm"))]
    return aside[-1] if aside else db_path


def carry_foreign_tables(old_db: Path, conn: sqlite3.Connection) -> list[str]:
    """Copies the tables this module does not own (the job queue) from `old_db`, each as
    far as it reads; returns their names. The old file is opened read-only."""
    old = _open_old(old_db)
    if old is None:
        return []
    carried = []
    try:
        try:
            tables = old.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table' "
                                 "AND name NOT LIKE 'sqlite_%'").fetchall()
        except _UNREADABLE:
            return []
        for name, sql in tables:
            if not sql or any(name == own or name.startswith(own + "_") for own in OWN_TABLES):
                continue
            try:
                rows = old.execute(f'SELECT * FROM "{name}"').fetchall()
            except _UNREADABLE:
                rows = []  # the table's pages are damaged: its definition still comes over
            with transaction(conn):
                conn.execute(sql)
                if rows:
                    marks = ", ".join("?" * len(rows[0]))
                    conn.executemany(f'INSERT OR IGNORE INTO "{name}" VALUES ({marks})', rows)
            carried.append(name)
    finally:
        old.close()
    return carried


# What reading a damaged file can raise: SQLite's errors, and text that is not UTF-8.
_UNREADABLE = (sqlite3.Error, UnicodeDecodeError)


def _open_old(old_db: Path) -> Optional[sqlite3.Connection]:
    """A set-aside or damaged file, read-only: it stays exactly as it was found."""
    try:
        old = sqlite3.connect(f"{old_db.resolve().as_uri()}?mode=ro", uri=True)
    except _UNREADABLE:
        return None
    old.text_factory = lenient_text
    try:
        # A malformed entry in the schema (one table's CREATE text damaged) otherwise fails
        # every statement, the other tables' too: the job queue was lost with it. With the
        # connection read-only this only lets SQLite read past the bad entry.
        old.execute("PRAGMA writable_schema = ON")
    except _UNREADABLE:
        pass
    return old


def remove_old_set_asides(db_path: Path, keep: int = SET_ASIDE_KEPT) -> None:
    """Set-aside databases are for a person to look at; a few are plenty."""
    aside = sorted((p for p in db_path.parent.glob(db_path.name + ".*-*")
                    if not p.name.endswith(("-wal", "-shm"))),
                   key=lambda p: p.stat().st_mtime, reverse=True)
    for old in aside[keep:]:
        for suffix in ("", "-wal", "-shm"):
            Path(str(old) + suffix).unlink(missing_ok=True)


def salvage_favorites(conn: sqlite3.Connection, old_db: Path) -> int:
    """Favorites live only in the database; copy them from an old file, as far as it reads.

    Matched by file name, which is unique for our own files. Opened read-only:
    the old file stays exactly as it was found.
    """
    old = _open_old(old_db)
    if old is None:
        return 0
    try:
        names = {path.rsplit("/", 1)[-1] for (path,) in
                 old.execute("SELECT path FROM images WHERE favorite = 1")}
    except _UNREADABLE:
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

@dataclass
class _Listing:
    """What one look at the folders found."""
    files: dict[str, str] = field(default_factory=dict)  # rel -> full path, in listed folders
    listed: dict[str, tuple[int, int, list[str], bool]] = field(default_factory=dict)
    # ^ folder rel -> (mtime_ns, inode, subfolders, racy: list it again next time)
    unchanged: set[str] = field(default_factory=set)
    skipped: list[tuple[bytes, str, str, str, int, int]] = field(default_factory=list)
    # ^ (raw name, shown name, folder, why, mtime_ns, size)


def _walk(conn: sqlite3.Connection, location: HistoryLocation, full: bool,
          report: ReconcileReport) -> _Listing:
    """Lists every folder whose modification time (or inode) changed since its last
    listing, or that holds a skipped file that changed since; walks the rest from the
    subfolders recorded for them, one stat each.

    Plain strings and scandir, not Path objects: at 100,000 files this is most
    of the time a full reconcile takes.
    """
    known = {} if full else {
        path: (mtime_ns, inode, subfolders) for path, mtime_ns, inode, subfolders in
        conn.execute("SELECT path, mtime_ns, inode, subfolders FROM scanned_folders")}
    retry = set() if full else _folders_with_changed_skipped_files(conn, location)
    listing = _Listing()
    now = time.time()
    stack = [(top.name, str(top)) for top in (location.images_dir, location.trash_dir)]
    while stack:
        rel, folder = stack.pop()
        try:
            info = os.stat(folder)
        except OSError:
            continue  # gone: its rows are in scope, since it is not `unchanged`
        prior = known.get(rel)
        if prior is not None and prior[:2] == (info.st_mtime_ns, info.st_ino) and rel not in retry:
            try:
                subfolders = json_file.loads(prior[2])
            except (ValueError, TypeError):
                subfolders = None
            if isinstance(subfolders, list) and all(isinstance(n, str) for n in subfolders):
                listing.unchanged.add(rel)
                stack.extend((f"{rel}/{name}", os.path.join(folder, name)) for name in subfolders)
                continue
        subfolders, racy = _list_folder(rel, folder, now, listing, report)
        racy = racy or now - info.st_mtime_ns / 1e9 < RACY_SECONDS
        listing.listed[rel] = (info.st_mtime_ns, info.st_ino, subfolders, racy)
        stack.extend((f"{rel}/{name}", os.path.join(folder, name)) for name in subfolders)
    report.folders_listed = len(listing.listed)
    return listing


def _list_folder(rel: str, folder: str, now: float, listing: _Listing,
                 report: ReconcileReport) -> tuple[list[str], bool]:
    """One folder's PNGs into `listing`; returns its subfolders, and whether it holds a
    young temp file (a writer may still be at work: list the folder again next time)."""
    subfolders: list[str] = []
    racy = False
    try:
        entries = os.scandir(folder)
    except OSError:
        return subfolders, True
    with entries:
        for entry in entries:
            name = entry.name
            if entry.is_dir(follow_symlinks=False):
                if not name.startswith("."):
                    subfolders.append(name)
            elif name.startswith(".tmp-"):
                try:
                    if now - entry.stat().st_mtime > STALE_TEMP_SECONDS:
                        os.unlink(entry.path)
                        report.removed_temp += 1
                    else:
                        racy = True
                except FileNotFoundError:
                    pass
            elif not name.startswith(".") and name.lower().endswith(".png"):
                file_rel = f"{rel}/{name}"
                why = _unlistable(entry, file_rel)
                if why:
                    _skip(listing, report, file_rel, entry.path, why)
                else:
                    listing.files[file_rel] = entry.path
    return subfolders, racy


def _skip(listing: _Listing, report: ReconcileReport, rel: str, path: str, why: str) -> None:
    report.skipped.append((printable(rel), why))
    try:
        info = os.stat(path)
        mtime_ns, size = info.st_mtime_ns, info.st_size
    except OSError:
        mtime_ns, size = 0, -1
    listing.skipped.append((os.fsencode(rel), printable(rel), rel.rsplit("/", 1)[0], why,
                            mtime_ns, size))


def _folders_with_changed_skipped_files(conn: sqlite3.Connection,
                                        location: HistoryLocation) -> set[str]:
    """A file that failed (still being copied in, say) is read again once it changes,
    which its folder's own time does not show."""
    changed = set()
    for raw, folder, mtime_ns, size in conn.execute(
            "SELECT raw, folder, mtime_ns, size FROM skipped_files"):
        try:
            info = os.stat(os.path.join(os.fsencode(location.root), raw))
            now = (info.st_mtime_ns, info.st_size)
        except OSError:
            now = None
        if now != (mtime_ns, size):
            changed.add(folder)
    return changed


def _save_listing(conn: sqlite3.Connection, listing: _Listing, full: bool) -> None:
    """Remembers what was listed, so the next open can pass over what has not changed."""
    walked = listing.unchanged | set(listing.listed)
    known = {path for (path,) in conn.execute("SELECT path FROM scanned_folders")}
    if not full and not listing.listed and not listing.skipped and known <= walked:
        return  # nothing new: no write, so an unchanged history is opened without writing
    with transaction(conn):
        if full:
            conn.execute("DELETE FROM scanned_folders")
            conn.execute("DELETE FROM skipped_files")
        for (path,) in conn.execute("SELECT path FROM scanned_folders").fetchall():
            if path not in walked:
                conn.execute("DELETE FROM scanned_folders WHERE path = ?", (path,))
        for rel, (mtime_ns, inode, subfolders, racy) in listing.listed.items():
            conn.execute("DELETE FROM skipped_files WHERE folder = ?", (rel,))
            if racy:
                conn.execute("DELETE FROM scanned_folders WHERE path = ?", (rel,))
            else:
                conn.execute("INSERT OR REPLACE INTO scanned_folders VALUES (?, ?, ?, ?)",
                             (rel, mtime_ns, inode, json.dumps(subfolders)))
        conn.executemany("INSERT OR REPLACE INTO skipped_files VALUES (?, ?, ?, ?, ?, ?)",
                         listing.skipped)
        for (folder,) in conn.execute("SELECT DISTINCT folder FROM skipped_files").fetchall():
            if folder not in walked:
                conn.execute("DELETE FROM skipped_files WHERE folder = ?", (folder,))


def skipped_files(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """(file, why) for each PNG in the folder that is not in the history."""
    return [(path, why) for path, why in
            conn.execute("SELECT path, why FROM skipped_files ORDER BY path")]


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


def reconcile(conn: sqlite3.Connection, location: HistoryLocation,
              full: bool = True) -> ReconcileReport:
    """With `full=False`, only folders that changed since their last listing are looked at."""
    report = ReconcileReport()
    # Rows before files: a row committed after this read has its file on disk before the scan
    # (files are renamed into place before their row commits), so it cannot look vanished.
    cursor = conn.cursor()
    cursor.row_factory = None  # plain tuples: thousands of rows
    all_rows = cursor.execute("SELECT id, path, missing FROM images").fetchall() if full else None
    listing = _walk(conn, location, full, report)
    if all_rows is None:
        all_rows = _rows_in_scope(cursor, listing)
    rows = {path: (image_id, missing) for image_id, path, missing in all_rows}
    on_disk = listing.files

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

    import_files(conn, location, sorted(unknown.items()), report, listing)
    _save_listing(conn, listing, full)
    return report


def _rows_in_scope(cursor: sqlite3.Cursor, listing: _Listing) -> list[tuple]:
    """Rows in listed folders, and in folders below them that are not walked any more (or
    never were listed), found by one index range per folder ('/' + 1 is '0')."""
    rows: list[tuple] = []
    walked = listing.unchanged | set(listing.listed)
    known = [path for (path,) in cursor.execute("SELECT path FROM scanned_folders")]
    gone = [path for path in known if path not in walked]
    for folder in [*listing.listed, *gone]:
        for row in cursor.execute("SELECT id, path, missing FROM images WHERE path >= ? AND path < ?",
                                  (folder + "/", folder + "0")):
            parent = row[1].rsplit("/", 1)[0]
            if parent == folder or parent not in walked or parent in listing.listed:
                rows.append(row)
    return list({row[1]: row for row in rows}.values())


def import_files(conn: sqlite3.Connection, location: HistoryLocation,
                 pending: list[tuple[str, Path]], report: ReconcileReport,
                 listing: Optional[_Listing] = None) -> None:
    """Files with no row, each from its own PNG metadata, with the marks the journal keeps."""
    marks = MarksJournal(location.marks_path).read() if pending else {}
    # One stamp for the whole run, so the trash found today is one "undo" away, not one per file.
    found_at = time.time()
    for start in range(0, len(pending), IMPORT_BATCH):
        batch = []
        for rel, path in pending[start:start + IMPORT_BATCH]:
            try:
                batch.append((rel, path, read_png_metadata(path, verify=True)))
            except Exception as error:  # noqa: BLE001 - anyone's file: PIL may raise anything
                # Not deleted: it may be a file the person cares about, or still being copied in.
                if listing is not None:
                    _skip(listing, report, rel, str(path), _why(error))
                else:
                    report.skipped.append((printable(rel), _why(error)))
        with transaction(conn):
            for rel, path, meta in batch:
                # One file's failure must not undo the others' imports, nor half-import it.
                conn.execute("SAVEPOINT one_file")
                try:
                    imported = _import(conn, rel, path, meta, found_at, marks, report)
                except (sqlite3.Error, OSError, ValueError, OverflowError) as error:
                    conn.execute("ROLLBACK TO one_file")
                    report.skipped.append((printable(rel), _why(error)))
                    imported = False
                conn.execute("RELEASE one_file")
                report.imported += imported


def _why(error: BaseException) -> str:
    text = str(error) if not isinstance(error, OSError) else (error.strerror or str(error))
    return printable(f"{type(error).__name__}: {text}" if text else type(error).__name__)


def _import(conn: sqlite3.Connection, rel: str, path: Path, meta, found_at: float,
            marks: dict[str, Mark], report: ReconcileReport) -> bool:
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
        # Who queued it, as our own chunk says (engine.pngmeta writes it for API jobs).
        origin = clean_origin(meta.recipe.labels.get("origin")) if meta.recipe else ""
        generation_id = conn.execute(
            """INSERT INTO generations (uid, created, prompt, negative_prompt, request_json,
                   model, seed, origin, status)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'imported')""",
            (uid, created, request.prompt if request else "",
             request.negative_prompt if request else "",
             batch_request.to_json() if batch_request else None,
             meta.model_label or "", _int64(meta.batch_seed), origin),
        ).lastrowid
    mark = marks.get(mark_key(rel))
    deleted_at = None
    if _in_trash(rel):
        deleted_at = mark.deleted_at if mark is not None and mark.deleted_at else found_at
    favorite = mark is not None and mark.favorite
    report.marks_restored += favorite or (deleted_at is not None and deleted_at != found_at)
    conn.execute(
        """INSERT INTO images (generation_id, path, seed, width, height, created, deleted_at,
               favorite)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
        (generation_id, rel, _int64(meta.seed), meta.width, meta.height, created, deleted_at,
         int(favorite)))
    return True



def _int64(value: Optional[int]) -> Optional[int]:
    """Other tools' seeds can be anything; SQLite's integers stop at 64 bits."""
    return value if value is not None and -2**63 <= value < 2**63 else None
