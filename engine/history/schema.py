"""The history database's tables, and the migrations that bring any older file up to date.

The version lives in SQLite's own `PRAGMA user_version`. The pending
migrations and the version bump run in one transaction, so a crash leaves the
file at the old version or the new one, never between. Add a migration by appending to
MIGRATIONS; never edit one that has shipped.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

BUSY_TIMEOUT_MS = 10_000


class HistoryError(Exception):
    """A problem with the history a person can act on; the message says how."""


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

MIGRATIONS: list[list[str]] = [_V1]


def schema_version() -> int:
    return len(MIGRATIONS)


def connect(db_path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode: transactions are explicit (see `transaction`).

    check_same_thread is off only so that the store can close every thread's
    connection at the end; each connection is still used by one thread.
    """
    conn = sqlite3.connect(str(db_path), isolation_level=None, check_same_thread=False,
                           timeout=BUSY_TIMEOUT_MS / 1000)
    conn.row_factory = sqlite3.Row
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
