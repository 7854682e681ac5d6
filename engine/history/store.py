"""The history store: every finished image as a PNG file plus a row in SQLite.

The files are the truth and the database is an index over them: each PNG
carries its own recipe (engine.pngmeta), so a lost or damaged database is
rebuilt from the folder (see reconcile.py).

Ordering that makes a crash harmless: the PNG is written under a temporary
name, fsynced and renamed into place, and only then is its row committed. A
crash between the two leaves a file without a row, which the next open
imports; never a row without a file.

Threads: one HistoryStore may be shared by threads; each thread gets its own
SQLite connection (WAL lets the GUI thread read while the worker writes),
kept until close(), so use it from long-lived threads, not a pool of short ones.
Another process (the CLI) may use the same folder at the same time.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Optional, Union

from engine.events import GenerationResult
from engine.history import rebuild as _rebuild
from engine.history import reconcile as _reconcile
from engine.history.marks import Mark, MarksJournal
from engine.history.schema import (HistoryError, cannot_write as _cannot_write, clean_origin,
                                   connect, connect_read_only, is_uid, migrate, new_uid,
                                   transaction)
from engine.paths import HistoryLocation, history_location
from engine.pngmeta import save_png
from engine.recipe import request_from_json
from engine.request import GenerationRequest, check_field

TimeLike = Union[float, int, datetime]
_now = time.time  # tests move the clock through this


@dataclass(frozen=True)
class Filters:
    """What the gallery shows. The defaults: every live image, newest first.

    `text` matches whole words of the prompt (the last word also as a prefix,
    so typing "fo" finds "fox"); `include_negative` searches the negative
    prompt too. A word `from:api` in `text` is not a prompt word: it keeps the images
    that origin queued (ImageRecord.origin; see `_origin_words`). `since` is inclusive,
    `until` exclusive; both take unix seconds or a datetime (a naive one is local
    time). `trash` shows the trash instead.
    """
    text: str = ""
    include_negative: bool = False
    favorites_only: bool = False
    model: Optional[str] = None
    sampler: Optional[str] = None  # a sampler id (engine.samplers.names)
    since: Optional[TimeLike] = None
    until: Optional[TimeLike] = None
    trash: bool = False
    include_missing: bool = False


@dataclass(frozen=True)
class ImageRecord:
    """One image, light enough to hold thousands of in a list model."""
    id: int
    generation_id: int
    path: Path  # absolute
    prompt: str
    seed: Optional[int]
    model: str
    created: datetime  # aware, local time zone
    favorite: bool
    width: int
    height: int
    deleted: bool  # in the trash
    missing: bool  # the file was not found at the last reconcile
    origin: str = ""  # who queued it (Job.origin): "api" for the HTTP API, "" for the window's


@dataclass(frozen=True)
class ImageDetail(ImageRecord):
    """An image with its whole recipe, for the details pane and "reuse settings"."""
    negative_prompt: str = ""
    request: Optional[GenerationRequest] = None  # this image alone: its own seed, batch 1
    generation_request: Optional[GenerationRequest] = None  # the batch it came from
    device: str = ""
    timings: dict = field(default_factory=dict)
    status: str = ""
    recipe_lacks: tuple[str, ...] = ()  # request fields the file did not say, or said wrong


def _text(value) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def _timings(raw) -> dict:
    """{step: seconds}, or {} for anything else an older version stored."""
    try:
        timings = json.loads(raw) if isinstance(raw, str) and len(raw) < 10_000 else {}
    except (ValueError, RecursionError):
        return {}
    if not isinstance(timings, dict):
        return {}
    return {str(k): float(v) for k, v in timings.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)}


_RECORD_COLUMNS = """i.id, i.generation_id, i.path, i.seed, i.width, i.height, i.created,
    i.favorite, i.deleted_at, i.missing, g.prompt, g.model, g.origin"""

_WORD = re.compile(r"\w+")


def file_name(created: float, uid: str, index: int) -> str:
    """`20261126-110604.123456-<uid>-<index>.png` in UTC: sortable, unique, and free of
    anything the person typed (no prompt text ever reaches a path)."""
    moment = datetime.fromtimestamp(created, tz=timezone.utc)
    return f"{moment:%Y%m%d-%H%M%S.%f}-{uid}-{index}.png"


def _timestamp(value: TimeLike) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value)


# `from:api` (any case), standing alone: the origin filter, not prompt words.
_FROM = re.compile(r"(?<!\S)from:(\S+)", re.IGNORECASE)


def _origin_words(text: str) -> tuple[str, list[tuple[str, bool]]]:
    """The search text without its `from:` words, and each origin they name with whether
    it is still being typed (the text's last word: matched as a prefix, as prompt words are)."""
    origins = []
    for match in _FROM.finditer(text):
        typing = match.end() == len(text)
        origins.append((match.group(1).lower(), typing))
    # Replaced by a space: a prompt word before a `from:` word is a whole word, not a prefix.
    return _FROM.sub(" ", text), origins


def _like_literal(text: str) -> str:
    """`text` for LIKE ... ESCAPE '\\', its own % and _ matching only themselves."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _fts_query(text: str, include_negative: bool) -> Optional[str]:
    """The person's words as an FTS5 query; their punctuation is never FTS syntax."""
    words = _WORD.findall(text)
    if not words:
        return None
    terms = [f'"{w}"' for w in words]
    if not text[-1:].isspace():
        terms[-1] += "*"
    columns = "{prompt negative_prompt}" if include_negative else "prompt"
    return f"{columns} : ({' '.join(terms)})"


class HistoryStore:
    """Open with `HistoryStore()` (the default folder, see engine.paths) or
    `HistoryStore("/some/folder")`. Opening reconciles the folder with the
    database unless `reconcile=False`; the report is in `last_report`.
    """

    def __init__(self, location: Union[None, str, Path, HistoryLocation] = None, *,
                 reconcile: bool = True):
        self.location = history_location(location)
        self.root = self.location.root
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._closed = False
        self.marks = MarksJournal(self.location.marks_path)
        # Why the history can only be read, when it can (a read-only or full disk); else None.
        self.read_only: Optional[str] = None
        self.damaged_db: Optional[Path] = None  # where a damaged database was moved, if it was
        self.last_report: Optional[_reconcile.ReconcileReport] = None
        try:
            self._make_folders()
            self.damaged_db = _reconcile.open_or_set_aside(self.location)
            if reconcile or self.damaged_db is not None:
                # After damage everything is listed again; otherwise only what changed.
                self.last_report = self.reconcile(full=self.damaged_db is not None)
            if self.damaged_db is not None:
                self.last_report.favorites_kept = _reconcile.salvage_favorites(
                    self._conn(), self.damaged_db)
        except (OSError, sqlite3.OperationalError, HistoryError) as error:
            if not _cannot_write(error) or not self.location.db_path.is_file():
                if isinstance(error, HistoryError):
                    raise
                raise HistoryError(f"Cannot open the history in {self.root}: {error}") from error
            self._open_read_only(error)

    def _make_folders(self) -> None:
        for folder in (self.root, self.location.images_dir, self.location.trash_dir):
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except (FileExistsError, NotADirectoryError):
                raise HistoryError(
                    f"{folder} is a file, not a folder: move it away, or choose another "
                    f"history folder (--history-dir).") from None

    def _open_read_only(self, error: BaseException) -> None:
        """Reads what is there: a full or read-only disk must not hide the history."""
        self.close()
        with self._lock:
            self._closed = False
        self._local = threading.local()
        cause = error.__cause__ if isinstance(error, HistoryError) and error.__cause__ else error
        why = getattr(cause, "strerror", None) or str(cause)
        self.read_only = f"the history folder {self.root} cannot be written ({why})"
        self.last_report = _reconcile.ReconcileReport()
        conn = self._conn()
        if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'images'"
                        ).fetchone() is None:
            # A new folder on a full disk: the file was made, its tables never were.
            self.close()
            raise HistoryError(
                f"Cannot start a history in {self.root}: the folder cannot be written ({why}) "
                f"and holds no history yet. Free some space or make it writable, or choose "
                f"another history folder (--history-dir).") from cause
        conn.execute("SELECT count(*) FROM images").fetchone()

    def _writable(self) -> None:
        if self.read_only:
            raise HistoryError(f"Cannot change the history: {self.read_only}.")

    # ------------------------------------------------------------ plumbing

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            with self._lock:
                if self._closed:
                    raise HistoryError("The history store is closed.")
                conn = (connect_read_only(self.location.db_path) if self.read_only
                        else connect(self.location.db_path))
                self._connections.append(conn)
            if not self.read_only:
                migrate(conn)
            self._local.conn = conn
        return conn

    def close(self) -> None:
        """Closes every thread's connection; call it once the other threads are done."""
        with self._lock:
            self._closed = True
            for conn in self._connections:
                conn.close()
            self._connections.clear()

    def __enter__(self) -> "HistoryStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _abs(self, rel: str) -> Path:
        return self.root / rel

    def _rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    # ------------------------------------------------------------ writing

    def add_result(self, result: GenerationResult, uid: Optional[str] = None,
                   skip: Iterable[int] = (), origin: str = "") -> list[ImageRecord]:
        """Saves every image of a finished generation; a cancelled one saves nothing.

        Each image is committed as soon as its file is in place: a crash part-way
        through loses no committed image, and a file saved but not yet committed
        comes back from its own metadata at the next open.

        `uid` names the generation (a queued job's own, so that a run again after a kill
        finds what the first run kept: `saved_for`); `skip` holds the indices of images
        already kept under it, which are not written again. `origin`: who queued it
        (Job.origin), kept in the row and in each PNG's own chunk, so a rebuild keeps it.
        """
        if result.cancelled or not result.images:
            return []
        self._writable()
        conn = self._conn()
        created = _now()
        uid = uid if uid is not None and is_uid(uid) else new_uid()
        skip = set(skip)
        month = datetime.fromtimestamp(created, tz=timezone.utc).strftime("%Y-%m")
        folder = self.location.images_dir / month
        folder.mkdir(parents=True, exist_ok=True)
        request = result.request
        origin = clean_origin(origin)
        generation_id: Optional[int] = None
        ids: list[int] = []
        for index, image in enumerate(result.images):
            if index in skip:
                continue
            path = folder / file_name(created, uid, index)
            save_png(path, image.pixels, request, image.seed, result.model_label,
                     result.backend, result.device, model_hash=result.model_hash,
                     network_hashes=result.network_hashes, origin=origin)
            height, width = image.pixels.shape[:2]
            with transaction(conn):
                if generation_id is None:
                    # The conflict: a concurrent reconcile imported our first file already
                    # (see _insert_image); our fuller record replaces its stand-in.
                    generation_id = conn.execute(
                        """INSERT INTO generations (uid, created, prompt, negative_prompt,
                               request_json, model, seed, device, timings_json, origin, status)
                           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'done')
                           ON CONFLICT(uid) DO UPDATE SET created = excluded.created,
                               prompt = excluded.prompt, negative_prompt = excluded.negative_prompt,
                               request_json = excluded.request_json, model = excluded.model,
                               seed = excluded.seed, device = excluded.device,
                               timings_json = excluded.timings_json, origin = excluded.origin,
                               status = 'done'
                           RETURNING id""",
                        (uid, created, request.prompt, request.negative_prompt, request.to_json(),
                         result.model_label, request.seed, result.device,
                         json.dumps(result.timings), origin),
                    ).fetchone()[0]
                ids.append(_insert_image(conn, generation_id, self._rel(path), image.seed,
                                         width, height, created))
        return self._records(ids)

    def saved_for(self, uid: str) -> dict[int, ImageRecord]:
        """The images kept under generation `uid`, by their index in its batch, trash
        included: what a job killed after saving (and run again) need not make again.
        A file written under that uid whose row was never committed (a kill between the
        two) is imported from its own metadata first."""
        if not is_uid(uid):
            return {}
        conn = self._conn()
        pattern = f"*/*-{uid}-*.png"
        known = {row[0] for row in conn.execute(
            "SELECT i.path FROM images i JOIN generations g ON g.id = i.generation_id "
            "WHERE g.uid = ?", (uid,))}
        unknown = []
        for folder in (self.location.images_dir, self.location.trash_dir):
            for path in sorted(folder.glob(pattern)):
                rel = self._rel(path)
                if rel not in known and _reconcile._NAME.match(path.name):
                    unknown.append((rel, path))
        if unknown and not self.read_only:
            _reconcile.import_files(conn, self.location, unknown, _reconcile.ReconcileReport())
        rows = conn.execute(
            f"""SELECT {_RECORD_COLUMNS} FROM images i JOIN generations g ON g.id = i.generation_id
                WHERE g.uid = ?""", (uid,)).fetchall()
        saved: dict[int, ImageRecord] = {}
        for row in rows:
            match = _reconcile._NAME.match(row["path"].rsplit("/", 1)[-1])
            if match and match.group(2) == uid:
                saved.setdefault(int(match.group(3)), self._record(row))
        return dict(sorted(saved.items()))

    def set_favorite(self, image_id: int, favorite: bool) -> None:
        self._writable()
        with transaction(self._conn()) as conn:
            conn.execute("UPDATE images SET favorite = ? WHERE id = ?", (int(favorite), image_id))
            self._journal(conn, [image_id])

    def toggle_favorite(self, image_id: int) -> bool:
        """Returns the new state."""
        self._writable()
        with transaction(self._conn()) as conn:
            conn.execute("UPDATE images SET favorite = 1 - favorite WHERE id = ?", (image_id,))
            row = conn.execute("SELECT favorite FROM images WHERE id = ?", (image_id,)).fetchone()
            self._journal(conn, [image_id])
        if row is None:
            raise HistoryError(f"No image {image_id} in the history.")
        return bool(row[0])

    def _journal(self, conn: sqlite3.Connection, image_ids: list[int]) -> None:
        """Inside the write transaction: the journal gets lines in commit order, and if it
        cannot be written the change rolls back rather than live in the database alone."""
        rows = conn.execute(
            f"SELECT path, favorite, deleted_at FROM images WHERE id IN ({','.join('?' * len(image_ids))})",
            image_ids).fetchall() if image_ids else []
        try:
            self.marks.record((row[0], Mark(bool(row[1]), row[2])) for row in rows)
        except OSError as error:
            raise HistoryError(f"Cannot record the change in {self.marks.path}: "
                               f"{error.strerror or error}") from error

    def delete(self, image_ids: Union[int, Iterable[int]]) -> list[int]:
        """Moves images to the trash; returns the ids moved. `undo_delete()` brings them back."""
        self._writable()
        ids = [image_ids] if isinstance(image_ids, int) else list(image_ids)
        stamp = _now()
        conn = self._conn()
        rows = self._rows_by_id(ids, "i.deleted_at IS NULL")
        moves = [(row, self._to_folder(row["path"], self.location.trash_dir)) for row in rows]
        self._move_files_then_commit(conn, moves, stamp)
        return [row["id"] for row in rows]

    def undo_delete(self, image_ids: Union[None, int, Iterable[int]] = None) -> list[int]:
        """Restores the given images, or by default everything the last `delete` removed."""
        self._writable()
        conn = self._conn()
        if image_ids is None:
            last = conn.execute("SELECT max(deleted_at) FROM images").fetchone()[0]
            if last is None:
                return []
            ids = [r[0] for r in conn.execute("SELECT id FROM images WHERE deleted_at = ?", (last,))]
        else:
            ids = [image_ids] if isinstance(image_ids, int) else list(image_ids)
        rows = self._rows_by_id(ids, "i.deleted_at IS NOT NULL")
        moves = [(row, self._to_folder(row["path"], self.location.images_dir)) for row in rows]
        self._move_files_then_commit(conn, moves, None)
        return [row["id"] for row in rows]

    def empty_trash(self) -> int:
        """Deletes the trash for good; returns how many images went."""
        self._writable()
        with transaction(self._conn()) as conn:
            rows = conn.execute("SELECT id, path FROM images WHERE deleted_at IS NOT NULL").fetchall()
            conn.execute("DELETE FROM images WHERE deleted_at IS NOT NULL")
            _drop_empty_generations(conn)
        # Rows first: a crash here leaves files in the trash, which reconcile puts back in the trash.
        for row in rows:
            try:
                self._abs(row["path"]).unlink()
            except FileNotFoundError:
                pass
        return len(rows)

    def export(self, image_id: int, folder: Union[str, Path]) -> Path:
        """Copies the PNG (its metadata included) into `folder`, never over an existing file."""
        record = self.get(image_id)
        if record is None:
            raise HistoryError(f"No image {image_id} in the history.")
        if not record.path.is_file():
            raise HistoryError(f"The file of image {image_id} is missing: {record.path}")
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".tmp-{uuid.uuid4().hex}.png"
        shutil.copyfile(record.path, tmp)
        try:
            for n in range(1, 10_000):
                target = folder / (record.path.name if n == 1 else f"{record.path.stem}-{n}.png")
                try:
                    # link() refuses an existing name, so no race can overwrite a file.
                    os.link(tmp, target)
                    return target
                except FileExistsError:
                    continue
                except OSError:
                    # File systems without hard links (FAT, some network shares).
                    if not target.exists():
                        os.replace(tmp, target)
                        return target
            raise HistoryError(f"Too many copies of {record.path.name} in {folder}.")
        finally:
            if tmp.exists():
                tmp.unlink()

    # ------------------------------------------------------------ reading

    def count(self, filters: Optional[Filters] = None) -> int:
        filters = filters or Filters()
        where, params = self._where(filters, count_live=True)
        # Every image has its generation (a foreign key), so the join only matters for g's columns.
        join = " JOIN generations g ON g.id = i.generation_id" if "g." in where else ""
        sql = f"SELECT count(*) FROM images i{join} WHERE {where}"
        return self._conn().execute(sql, params).fetchone()[0]

    def page(self, offset: int = 0, limit: int = 100,
             filters: Optional[Filters] = None) -> list[ImageRecord]:
        """Images newest first, `limit` of them after skipping `offset`."""
        where, params = self._where(filters or Filters())
        sql = (f"SELECT {_RECORD_COLUMNS} FROM images i JOIN generations g ON g.id = i.generation_id "
               f"WHERE {where} ORDER BY i.created DESC, i.id DESC LIMIT ? OFFSET ?")
        rows = self._conn().execute(sql, (*params, int(limit), int(offset))).fetchall()
        return [self._record(row) for row in rows]

    def get(self, image_id: int) -> Optional[ImageDetail]:
        row = self._conn().execute(
            f"""SELECT {_RECORD_COLUMNS}, g.negative_prompt, g.request_json, g.device,
                       g.timings_json, g.status
                FROM images i JOIN generations g ON g.id = i.generation_id WHERE i.id = ?""",
            (image_id,)).fetchone()
        if row is None:
            return None
        base = self._record(row)
        # Rows an older version imported hold whatever the file said: read them as untrusted.
        generation_request, lacking = request_from_json(row["request_json"])
        request = None
        if generation_request is not None:
            request = generation_request.replace(batch=1)
            if row["seed"] is not None and not check_field("seed", row["seed"]):
                request = request.replace(seed=row["seed"])
        return ImageDetail(**base.__dict__, negative_prompt=_text(row["negative_prompt"]),
                           request=request, generation_request=generation_request,
                           device=_text(row["device"]), timings=_timings(row["timings_json"]),
                           status=_text(row["status"]), recipe_lacks=tuple(lacking))

    def models(self) -> list[str]:
        """Model labels present among live images, for the filter menu."""
        rows = self._conn().execute(
            """SELECT DISTINCT g.model FROM generations g JOIN images i ON i.generation_id = g.id
               WHERE i.deleted_at IS NULL ORDER BY g.model""").fetchall()
        return [r[0] for r in rows]

    # ------------------------------------------------------------ maintenance

    def reconcile(self, full: bool = True) -> "_reconcile.ReconcileReport":
        """Imports files the database lacks, marks rows whose file vanished as missing.

        `full=False` looks only at folders that changed since they were last listed:
        what opening the store does.
        """
        if self.read_only:
            self.last_report = _reconcile.ReconcileReport()
            return self.last_report
        self.last_report = _reconcile.reconcile(self._conn(), self.location, full=full)
        return self.last_report

    def skipped(self) -> list[tuple[str, str]]:
        """(file, why) for every PNG in the folder that could not be brought into the history."""
        try:
            return _reconcile.skipped_files(self._conn())
        except sqlite3.OperationalError:  # a read-only file of an older schema
            return []

    def rebuild(self) -> "_reconcile.ReconcileReport":
        """Rebuilds the index from the image files alone, in one transaction.

        The new index is built in memory first; then one transaction swaps it in,
        so a kill at any moment leaves the old index or the new one, and other
        processes with the store open see the change like any other commit.
        Favourites and trash marks come from the old rows and the journal; image
        ids stay as they were for files the old index knew; rows another process
        added meanwhile are kept; tables other modules own are not touched.
        """
        self._writable()
        self.last_report = _rebuild.rebuild(self._conn(), self.location)
        return self.last_report

    # ------------------------------------------------------------ helpers

    def _where(self, f: Filters, count_live: bool = False) -> tuple[str, list]:
        """The filter as SQL. Only a count with no text to match may use images_live; for
        pages (newest first) and text searches, `+` keeps SQLite from choosing that index
        over images_by_created or the search's own rows, which it would, unaware that
        nearly every image is live."""
        plus = "" if count_live and not f.text.strip() else "+"
        clauses = [f"{plus}i.deleted_at IS NOT NULL" if f.trash else f"{plus}i.deleted_at IS NULL"]
        params: list = []
        if not f.include_missing:
            clauses.append(f"{plus}i.missing = 0")
        if f.favorites_only:
            clauses.append(f"{plus}i.favorite = 1")
        if f.model is not None:
            clauses.append("g.model = ?")
            params.append(f.model)
        if f.sampler is not None:
            from engine.recipe import BEFORE_THE_FIELD
            # A recipe from before samplers names none; a damaged one matches no sampler.
            clauses.append("(CASE WHEN json_valid(g.request_json) THEN "
                           "COALESCE(json_extract(g.request_json, '$.sampler'), ?) END) = ?")
            params.extend([BEFORE_THE_FIELD["sampler"], f.sampler])
        if f.since is not None:
            clauses.append("i.created >= ?")
            params.append(_timestamp(f.since))
        if f.until is not None:
            clauses.append("i.created < ?")
            params.append(_timestamp(f.until))
        text, origins = _origin_words(f.text)
        for origin, typing in origins:
            clauses.append("g.origin LIKE ? ESCAPE '\\'")
            params.append(_like_literal(origin) + ("%" if typing else ""))
        if text.strip():
            query = _fts_query(text, f.include_negative)
            if query is not None:
                clauses.append("i.generation_id IN "
                               "(SELECT rowid FROM generations_fts WHERE generations_fts MATCH ?)")
                params.append(query)
            else:
                # Only symbols or emoji: no words for the index, so a plain substring search.
                escaped = _like_literal(text.strip())
                columns = ["g.prompt"] + (["g.negative_prompt"] if f.include_negative else [])
                clauses.append("(" + " OR ".join(f"{c} LIKE ? ESCAPE '\\'" for c in columns) + ")")
                params.extend([f"%{escaped}%"] * len(columns))
        return " AND ".join(clauses), params

    def _record(self, row: sqlite3.Row) -> ImageRecord:
        return ImageRecord(
            id=row["id"], generation_id=row["generation_id"], path=self._abs(row["path"]),
            prompt=_text(row["prompt"]), seed=row["seed"], model=_text(row["model"]),
            created=datetime.fromtimestamp(row["created"], tz=timezone.utc).astimezone(),
            favorite=bool(row["favorite"]), width=row["width"], height=row["height"],
            deleted=row["deleted_at"] is not None, missing=bool(row["missing"]),
            origin=clean_origin(row["origin"]),
        )

    def _records(self, ids: list[int]) -> list[ImageRecord]:
        by_id = {row["id"]: self._record(row) for row in self._rows_by_id(ids)}
        return [by_id[i] for i in ids if i in by_id]

    def _rows_by_id(self, ids: list[int], condition: str = "1") -> list[sqlite3.Row]:
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        return self._conn().execute(
            f"""SELECT {_RECORD_COLUMNS} FROM images i JOIN generations g ON g.id = i.generation_id
                WHERE i.id IN ({marks}) AND {condition}""", ids).fetchall()

    def _to_folder(self, rel: str, folder: Path) -> Path:
        """The same file name and month folder under `folder` (images/ or trash/).

        Our own names never collide; a file someone dropped in might (two
        "download.png" deleted in turn), and a move must never overwrite.
        """
        target = folder.joinpath(*Path(rel).parts[1:])
        n = 1
        while target.exists():
            n += 1
            target = target.with_name(f"{Path(rel).stem}-{n}.png")
        return target

    def _move_files_then_commit(self, conn: sqlite3.Connection, moves: list, deleted_at) -> None:
        """A crash between the renames and the commit is repaired by reconcile, which
        finds each moved file by its unique name."""
        done: list[tuple[Path, Path]] = []
        try:
            for row, target in moves:
                source = self._abs(row["path"])
                if source.exists():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(source, target)
                    done.append((source, target))
            moved = {source for source, _ in done}
            with transaction(conn):
                for row, target in moves:
                    # A missing file keeps its last known place: that is where it may come back.
                    path = self._rel(target) if self._abs(row["path"]) in moved else row["path"]
                    conn.execute("UPDATE images SET path = ?, deleted_at = ? WHERE id = ?",
                                 (path, deleted_at, row["id"]))
                self._journal(conn, [row["id"] for row, _ in moves])
        except BaseException:
            for source, target in reversed(done):
                os.replace(target, source)
            raise


def _insert_image(conn: sqlite3.Connection, generation_id: int, rel: str, seed: Optional[int],
                  width: int, height: int, created: float) -> int:
    """A concurrent reconcile (say, the GUI opening while the CLI saves) may have imported
    this very file a moment ago; then the row becomes ours and its stand-in generation goes."""
    existing = conn.execute("SELECT id, generation_id FROM images WHERE path = ?", (rel,)).fetchone()
    if existing is None:
        return conn.execute(
            """INSERT INTO images (generation_id, path, seed, width, height, created)
               VALUES (?, ?, ?, ?, ?, ?)""",
            (generation_id, rel, seed, width, height, created)).lastrowid
    conn.execute("UPDATE images SET generation_id = ?, seed = ?, missing = 0 WHERE id = ?",
                 (generation_id, seed, existing["id"]))
    _drop_empty_generations(conn)
    return existing["id"]


def _drop_empty_generations(conn: sqlite3.Connection) -> None:
    conn.execute("DELETE FROM generations WHERE NOT EXISTS "
                 "(SELECT 1 FROM images WHERE images.generation_id = generations.id)")
