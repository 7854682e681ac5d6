"""The history database's tables, and the migrations that bring any older file up to date.

The version lives in SQLite's own `PRAGMA user_version`. The pending
migrations and the version bump run in one transaction, so a crash leaves the
file at the old version or the new one, never between. Add a migration by appending to
MIGRATIONS; never edit one that has shipped.
"""
from __future__ import annotations

import errno
import re
import sqlite3
import uuid
from pathlib import Path
from typing import Optional

BUSY_TIMEOUT_MS = 10_000


class HistoryError(Exception):
    """A problem with the history a person can act on; the message says how."""


_UID = re.compile(r"[0-9a-f]{12}")


def new_uid() -> str:
    """A generation's name, also in its files' names (12 hex digits, as reconcile reads
    them); a queued job takes one when it first starts (engine/jobs/queue.py)."""
    return uuid.uuid4().hex[:12]


def is_uid(text) -> bool:
    return isinstance(text, str) and _UID.fullmatch(text) is not None


_ORIGIN = re.compile(r"[a-z][a-z0-9_-]{0,31}")


def clean_origin(value) -> str:
    """Who queued a generation, as the history keeps it: a short lowercase word ("api"),
    or "" for the window's own, the CLI's, and anything else a file claims."""
    return value if isinstance(value, str) and _ORIGIN.fullmatch(value) else ""


_V1 = [
    """CREATE TABLE generations (
        id INTEGER PRIMARY KEY,
        uid TEXT UNIQUE,                 -- also in each image's file name: regroups a batch on rebuild
        created REAL NOT NULL,           -- unix seconds
        prompt TEXT NOT NULL DEFAULT '',
        negative_prompt TEXT NOT NULL DEFAULT '',
        request_json TEXT,               -- the full request; NULL for a PNG that carried no recipe
        model TEXT NOT NULL DEFAULT '',  -- the label results record, e.g. "sd-v1.4"
        seed INTEGER,                    -- the batch's first seed
        device TEXT NOT NULL DEFAULT '',
        timings_json TEXT NOT NULL DEFAULT '{}',
        status TEXT NOT NULL             -- 'done', or 'imported' (rebuilt from a file's own metadata)
    )""",
    """CREATE TABLE images (
        id INTEGER PRIMARY KEY,
        generation_id INTEGER NOT NULL REFERENCES generations(id) ON DELETE CASCADE,
        path TEXT NOT NULL UNIQUE,       -- relative to the history folder, '/' separated
        seed INTEGER,
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        created REAL NOT NULL,
        favorite INTEGER NOT NULL DEFAULT 0,
        deleted_at REAL,                 -- set while the file sits in the trash
        missing INTEGER NOT NULL DEFAULT 0
    )""",
    "CREATE INDEX images_by_created ON images(created DESC, id DESC)",
    "CREATE INDEX images_by_generation ON images(generation_id)",
    "CREATE INDEX generations_by_model ON generations(model)",
    # External content: the text is stored once, in generations; triggers keep the index in step.
    """CREATE VIRTUAL TABLE generations_fts USING fts5(
        prompt, negative_prompt, content='generations', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2')""",
    """CREATE TRIGGER generations_ai AFTER INSERT ON generations BEGIN
        INSERT INTO generations_fts(rowid, prompt, negative_prompt)
        VALUES (new.id, new.prompt, new.negative_prompt);
    END""",
    """CREATE TRIGGER generations_ad AFTER DELETE ON generations BEGIN
        INSERT INTO generations_fts(generations_fts, rowid, prompt, negative_prompt)
        VALUES ('delete', old.id, old.prompt, old.negative_prompt);
    END""",
    """CREATE TRIGGER generations_au AFTER UPDATE OF prompt, negative_prompt ON generations BEGIN
        INSERT INTO generations_fts(generations_fts, rowid, prompt, negative_prompt)
        VALUES ('delete', old.id, old.prompt, old.negative_prompt);
        INSERT INTO generations_fts(rowid, prompt, negative_prompt)
        VALUES (new.id, new.prompt, new.negative_prompt);
    END""",
]

# What the last look at each folder found, so that opening the store lists only folders
# whose contents changed since (see reconcile.py), and the files it could not import.
_V2 = [
    """CREATE TABLE scanned_folders (
        path TEXT PRIMARY KEY,           -- relative to the history folder, e.g. 'images/2026-11'
        mtime_ns INTEGER NOT NULL,       -- the folder's own modification time when it was listed
        inode INTEGER NOT NULL,
        subfolders TEXT NOT NULL         -- JSON list of names: walked again without a listing
    )""",
    """CREATE TABLE skipped_files (
        raw BLOB PRIMARY KEY,            -- the name's own bytes (it may not be UTF-8)
        path TEXT NOT NULL,              -- the name as a person can read it
        folder TEXT NOT NULL,
        why TEXT NOT NULL,
        mtime_ns INTEGER NOT NULL,       -- a change here means: try it again
        size INTEGER NOT NULL
    )""",
    # The gallery's count() of live images, without visiting 100,000 rows.
    "CREATE INDEX images_live ON images(deleted_at, missing, favorite)",
]

# Who queued each generation, where that was not the person at the window: Job.origin
# ("api" for the HTTP API, engine/api), so the gallery can mark it. Rows from before say ''.
_V3 = [
    "ALTER TABLE generations ADD COLUMN origin TEXT NOT NULL DEFAULT ''",
]

MIGRATIONS: list[list[str]] = [_V1, _V2, _V3]

# Columns migrations added, with the value an older row means: (table, column, SQL value).
# A file that can only be read is never migrated; temp views give it these (see
# connect_read_only), so the same queries read it.
ADDED_COLUMNS = (("generations", "origin", "''"),)

# Tables this module creates; anything else in the file (the job queue) belongs to others.
OWN_TABLES = ("generations", "images", "generations_fts", "scanned_folders", "skipped_files")


def schema_version() -> int:
    return len(MIGRATIONS)


def lenient_text(data: bytes) -> str:
    """A damaged page can hold bytes that are not UTF-8: show them as U+FFFD, never raise."""
    return data.decode("utf-8", "replace")


def connect(db_path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode: transactions are explicit (see `transaction`).

    check_same_thread is off only so that the store can close every thread's
    connection at the end; each connection is still used by one thread.
    """
    conn = sqlite3.connect(str(db_path), isolation_level=None, check_same_thread=False,
                           timeout=BUSY_TIMEOUT_MS / 1000)
    conn.row_factory = sqlite3.Row
    conn.text_factory = lenient_text
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys = ON")
    # WAL survives in the file; it lets the GUI read while the worker writes.
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if mode.lower() != "wal":
        conn.close()
        raise HistoryError(f"The history database {db_path} cannot use WAL mode (got {mode!r}); "
                           "is it on a network drive? Choose a local history folder.")
    # NORMAL is durable in WAL mode except for the last commits on power loss, never corrupting.
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def connect_read_only(db_path: Path) -> sqlite3.Connection:
    """For a folder that cannot be written (read-only, full): reads only. `immutable` is
    the last resort SQLite offers when even the WAL index cannot be made; other
    processes' later commits then go unseen until the store is opened again."""
    uri = db_path.resolve().as_uri()
    last: Exception = HistoryError("no attempt")
    for mode in ("mode=ro", "mode=ro&immutable=1"):
        try:
            conn = sqlite3.connect(f"{uri}?{mode}", uri=True, isolation_level=None,
                                   check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000)
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError as error:
            last = error
            continue
        conn.row_factory = sqlite3.Row
        conn.text_factory = lenient_text
        _stand_in_for_added_columns(conn)
        return conn
    raise HistoryError(f"Cannot read the history database {db_path}: {last}")


def _stand_in_for_added_columns(conn: sqlite3.Connection) -> None:
    """An older file read as it is: a temp view named as the table (SQLite looks in temp
    first) adds each column it lacks, with the value older rows mean. Temp objects live
    in memory, so this writes nothing to the file."""
    for table in {table for table, _, _ in ADDED_COLUMNS}:
        have = {row[1] for row in conn.execute(f"PRAGMA main.table_info({table})")}
        lacking = [(column, value) for name, column, value in ADDED_COLUMNS
                   if name == table and column not in have]
        if have and lacking:
            extra = ", ".join(f"{value} AS {column}" for column, value in lacking)
            conn.execute(f"CREATE TEMP VIEW {table} AS SELECT *, {extra} FROM main.{table}")


# SQLite's primary result codes that mean "cannot write here", not "locked" or "damaged".
_PERM, _READONLY, _IOERR, _FULL, _CANTOPEN = 3, 8, 10, 13, 14


def cannot_write(error: BaseException) -> bool:
    """Whether `error` says the disk refuses writes (read-only, full, no permission)."""
    cause = error.__cause__ if isinstance(error, HistoryError) and error.__cause__ else error
    if isinstance(cause, sqlite3.OperationalError):
        code = getattr(cause, "sqlite_errorcode", None)
        return code is not None and (code & 0xFF) in (_PERM, _READONLY, _IOERR, _FULL, _CANTOPEN)
    if isinstance(cause, OSError):
        return cause.errno in (errno.EROFS, errno.ENOSPC, errno.EACCES, errno.EPERM,
                               getattr(errno, "EDQUOT", errno.ENOSPC))
    return False


class transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception.

    IMMEDIATE takes the write lock up front, so two writers wait on the busy
    timeout instead of failing half-way with "database is locked".
    """

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.conn.execute("COMMIT")
        else:
            self.conn.execute("ROLLBACK")


def migrate(conn: sqlite3.Connection) -> int:
    """Brings the file up to the current schema; returns the version it was at."""
    current = conn.execute("PRAGMA user_version").fetchone()[0]
    if current == len(MIGRATIONS):
        return current  # the usual case: no write lock, so a reader never waits on a writer
    with transaction(conn):
        start = conn.execute("PRAGMA user_version").fetchone()[0]
        if start > len(MIGRATIONS):
            raise HistoryError(
                f"This history was written by a newer SD Desk (schema {start}; this one knows "
                f"up to {len(MIGRATIONS)}). Update SD Desk, or choose another history folder.")
        for version in range(start, len(MIGRATIONS)):
            for statement in MIGRATIONS[version]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1}")
    return start


def _columns(conn: sqlite3.Connection, table: str) -> list[tuple]:
    return [tuple(row[1:]) for row in conn.execute(f"PRAGMA table_info({table})")]


def schema_problem(conn: sqlite3.Connection) -> Optional[str]:
    """How this file's own tables differ from the current schema, or None. A damaged
    byte in the stored CREATE text can rename a column and still pass quick_check,
    after which every query fails; comparing with a fresh copy catches that."""
    if conn.execute("PRAGMA user_version").fetchone()[0] != len(MIGRATIONS):
        return None  # migrate() brings older files up to date
    fresh = sqlite3.connect(":memory:")
    try:
        migrate(fresh)
        for table in OWN_TABLES:
            if _columns(conn, table) != _columns(fresh, table):
                return f"table {table} differs from the schema"
    finally:
        fresh.close()
    return None
