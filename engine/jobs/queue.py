"""The waiting jobs, kept in the history database so that a crash or a close loses none.

The table lives in the history's own SQLite file (WAL, see engine/history/schema.py)
next to the history's tables, which leave it alone. A row exists while its job
is waiting or running; a job that ends (done, failed, cancelled) leaves the
table, its images being in the history by then.

A process that dies mid-job leaves its row `running`. The next open of that
queue marks it `interrupted`, keeps it where it was, and pauses the queue: what
crashed the app (memory, a driver) would likely crash it again, so the person
decides when the queue goes on; `retry` is the one click that runs it again.
A job takes a uid when it first starts, and the history names its images by it, so
a job killed after saving (before its row left this table) is finished from what the
history kept when run again, not made twice (engine/jobs/runner.py). A row whose
request cannot be read is listed as DAMAGED and announced, never run nor dropped.

Thread-safe: the window's thread adds, removes and reorders while the runner's
thread takes and finishes jobs. One connection, behind a lock; every statement
is a few rows.
"""
from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Callable, Optional

from engine.history.schema import is_uid, new_uid
from engine.jobs.events import JobDamaged, JobEvent, Queued, QueueChanged
from engine.jobs.job import Job, JobState
from engine.request import GenerationRequest

_TABLES = (
    """CREATE TABLE IF NOT EXISTS jobs (
        id INTEGER PRIMARY KEY,
        queue TEXT NOT NULL,             -- whose queue: 'window' for the app's
        position REAL NOT NULL,          -- run order among waiting jobs, lowest first
        state TEXT NOT NULL,             -- a JobState value: pending, running, interrupted or damaged
        request_json TEXT NOT NULL,
        created REAL NOT NULL            -- unix seconds
    )""",  # and uid TEXT: the history's name for its images, from its first start (_add_uid_column),
    # and origin TEXT: who queued it, Job.origin (_add_origin_column)
    "CREATE INDEX IF NOT EXISTS jobs_by_queue ON jobs(queue, position)",
    """CREATE TABLE IF NOT EXISTS job_queues (
        name TEXT PRIMARY KEY,
        paused INTEGER NOT NULL DEFAULT 0
    )""",
)

Listener = Callable[[JobEvent], None]


class JobQueue:
    """`JobQueue(db_path)` keeps the queue in that file; `JobQueue()` keeps it in memory
    (the CLI's one-shot `generate`: that process is its only user)."""

    def __init__(self, db_path: Optional[Path] = None, name: str = "window") -> None:
        self.name = name
        self._lock = threading.RLock()
        self._listeners: list[Listener] = []
        if db_path is None:
            self._conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        else:
            from engine.history.schema import connect
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
            self._conn = connect(Path(db_path))
        for statement in _TABLES:
            self._conn.execute(statement)
        _add_uid_column(self._conn)
        _add_origin_column(self._conn)
        self._conn.execute("INSERT OR IGNORE INTO job_queues(name) VALUES (?)", (name,))
        self.recovered = self._recover()

    # ---- the event stream ------------------------------------------------------------

    def subscribe(self, listener: Listener) -> None:
        """`listener` is called on the thread that caused each event; it must not block."""
        self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def emit(self, event: JobEvent) -> None:
        for listener in list(self._listeners):
            listener(event)

    # ---- reading ---------------------------------------------------------------------

    def jobs(self) -> list[Job]:
        """Every job still here, in run order: the running one first."""
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_JOB_COLUMNS} FROM jobs WHERE queue = ? "
                "ORDER BY state != 'running', position, id", (self.name,)).fetchall()
        return [_job(row) for row in rows]

    def damaged(self) -> list[Job]:
        """Jobs whose stored request cannot be read (state DAMAGED): listed, never run."""
        return [job for job in self.jobs() if job.state is JobState.DAMAGED]

    def waiting(self) -> list[Job]:
        return [job for job in self.jobs() if job.state.waiting]

    def count_waiting(self) -> int:
        """len(waiting()), without reading every stored request (asked at each API poll)."""
        states = [state.value for state in JobState if state.waiting]
        with self._lock:
            return self._conn.execute(
                f"SELECT count(*) FROM jobs WHERE queue = ? AND state IN ({', '.join('?' * len(states))})",
                (self.name, *states)).fetchone()[0]

    def get(self, job_id: int) -> Optional[Job]:
        with self._lock:
            row = self._conn.execute(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ? "
                                     "AND queue = ?", (job_id, self.name)).fetchone()
        return _job(row) if row else None

    @property
    def paused(self) -> bool:
        with self._lock:
            row = self._conn.execute("SELECT paused FROM job_queues WHERE name = ?",
                                     (self.name,)).fetchone()
        return bool(row and row[0])

    def __len__(self) -> int:
        return len(self.jobs())

    # ---- changing --------------------------------------------------------------------

    def add(self, request: GenerationRequest, origin: str = "") -> Job:
        """Raises InvalidRequest for a request that fails its own validation (a stored one
        is read back field by field, and a bad field would come back as its default) or is
        too large to be read back (see size_problem). `origin`: who queued it where that is
        not the window's person (Job.origin)."""
        from engine.errors import InvalidRequest
        problems = request.validate()
        if problems:
            raise InvalidRequest(problems)
        problem = size_problem(request)
        if problem:
            from engine.request import Problem
            raise InvalidRequest([Problem("prompt", problem)])
        with self._lock:
            cursor = self._conn.execute(
                "INSERT INTO jobs(queue, position, state, request_json, created, origin) VALUES "
                "(?, (SELECT coalesce(max(position), 0) + 1 FROM jobs WHERE queue = ?), ?, ?, ?, ?)",
                (self.name, self.name, JobState.PENDING.value, request.to_json(), time.time(),
                 origin or None))
            job = Job(cursor.lastrowid, request, origin=origin)
        self.emit(Queued(job.id, request, origin))
        return job

    def take(self) -> Optional[Job]:
        """The first pending job, now marked running; None when paused or none is pending.
        Interrupted jobs wait for `retry`. A job whose request cannot be read is marked
        DAMAGED, announced (JobDamaged) and passed over: listed, never run, never dropped.

        A job gets its uid when it first starts; one taken with a uid already ran (and was
        interrupted), so the runner asks the history what it kept before running it again."""
        damaged: list[Job] = []
        job = None
        with self._lock:
            while not self.paused:
                row = self._conn.execute(
                    f"SELECT {_JOB_COLUMNS} FROM jobs WHERE queue = ? AND state = 'pending' "
                    "ORDER BY position, id LIMIT 1", (self.name,)).fetchone()
                if row is None:
                    break
                found = _job(row)
                if found.state is JobState.DAMAGED:
                    self._set_state(found.id, JobState.DAMAGED)
                    damaged.append(found)
                    continue
                uid = row[3] if is_uid(row[3]) else new_uid()
                self._conn.execute("UPDATE jobs SET state = ?, uid = ? WHERE id = ?",
                                   (JobState.RUNNING.value, uid, found.id))
                job = Job(found.id, found.request, JobState.RUNNING, uid, ran_before=uid == row[3],
                          origin=found.origin)
                break
        for one in damaged:
            self.emit(JobDamaged(one.id, DAMAGED_MESSAGE.format(id=one.id)))
        if job is not None or damaged:
            self.emit(QueueChanged())
        return job

    def finish(self, job_id: int, state: JobState) -> None:
        """Done, failed and cancelled jobs leave the queue; an interrupted one stays, to run again."""
        with self._lock:
            if state is JobState.INTERRUPTED:
                self._set_state(job_id, state)
            else:
                self._conn.execute("DELETE FROM jobs WHERE id = ?", (job_id,))

    def remove(self, job_id: int) -> bool:
        """Takes a waiting job out; the running one is the runner's to cancel."""
        with self._lock:
            removed = self._conn.execute(
                "DELETE FROM jobs WHERE id = ? AND queue = ? AND state != 'running'",
                (job_id, self.name)).rowcount
        if removed:
            self.emit(QueueChanged())
        return bool(removed)

    def clear(self) -> list[int]:
        """Removes every waiting job (cancel all); returns their ids."""
        with self._lock:
            ids = [job.id for job in self.waiting()]
            self._conn.execute("DELETE FROM jobs WHERE queue = ? AND state != 'running'",
                               (self.name,))
        if ids:
            self.emit(QueueChanged())
        return ids

    def move(self, job_id: int, delta: int) -> bool:
        """Moves a waiting job `delta` places (negative: earlier) among the waiting ones."""
        with self._lock:
            ids = [job.id for job in self.waiting()]
            if job_id not in ids:
                return False
            i = ids.index(job_id)
            j = max(0, min(len(ids) - 1, i + delta))
            if i == j:
                return False
            ids.insert(j, ids.pop(i))
            self._renumber(ids)
        self.emit(QueueChanged())
        return True

    def retry(self, job_id: int) -> bool:
        """Runs an interrupted job again, first in line, and lets the queue go on."""
        with self._lock:
            job = self.get(job_id)
            if job is None or job.state is not JobState.INTERRUPTED:
                return False
            self._set_state(job_id, JobState.PENDING)
            self._renumber([job_id] + [j.id for j in self.waiting() if j.id != job_id])
            self._set_paused(False)
        self.emit(QueueChanged())
        return True

    def pause(self) -> None:
        with self._lock:
            self._set_paused(True)
        self.emit(QueueChanged())

    def resume(self) -> None:
        with self._lock:
            self._set_paused(False)
        self.emit(QueueChanged())

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # ---- internals -------------------------------------------------------------------

    def _recover(self) -> int:
        """Jobs left running by a process that died are interrupted; the queue waits for the person."""
        with self._lock:
            found = self._conn.execute(
                "UPDATE jobs SET state = 'interrupted' WHERE queue = ? AND state = 'running'",
                (self.name,)).rowcount
            if found:
                self._set_paused(True)
        return found

    def _set_state(self, job_id: int, state: JobState) -> None:
        self._conn.execute("UPDATE jobs SET state = ? WHERE id = ?", (state.value, job_id))

    def _set_paused(self, paused: bool) -> None:
        self._conn.execute("UPDATE job_queues SET paused = ? WHERE name = ?", (int(paused), self.name))

    def _renumber(self, ids: list[int]) -> None:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            for position, job_id in enumerate(ids, start=1):
                self._conn.execute("UPDATE jobs SET position = ? WHERE id = ?", (position, job_id))
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise


def size_problem(request: GenerationRequest) -> Optional[str]:
    """Why `request` cannot wait in a queue, if it cannot: a stored request is read back only
    up to the recipe reader's size limit (a guard against damaged files), so a longer one
    would be lost between `add` and `take`. Only the prompts can make it that long."""
    from engine.recipe import MAX_CHUNK_CHARS
    size = len(request.to_json())
    if size <= MAX_CHUNK_CHARS:
        return None
    return (f"The prompt is too long to run: with the negative prompt and the settings the job "
            f"is {size:,} characters and a job holds at most {MAX_CHUNK_CHARS:,}. Shorten it.")


_JOB_COLUMNS = "id, state, request_json, uid, origin"
DAMAGED_MESSAGE = ("Queued job #{id} is damaged: its stored settings cannot be read, so it "
                   "cannot run. Remove it from the queue, and queue it again from the form.")


def _add_uid_column(conn: sqlite3.Connection) -> None:
    """Queues kept before jobs had uids gain the column on open; their jobs get one when
    they next start."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(jobs)")}
    if "uid" not in columns:
        conn.execute("ALTER TABLE jobs ADD COLUMN uid TEXT")


def _add_origin_column(conn: sqlite3.Connection) -> None:
    """Queues kept before jobs recorded who queued them gain the column on open; their jobs
    read as the window's own (origin "")."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(jobs)")}
    if "origin" not in columns:
        conn.execute("ALTER TABLE jobs ADD COLUMN origin TEXT")


def _job(row) -> Job:
    """A row as a Job; one whose request cannot be read (a damaged file) as a DAMAGED job
    with an empty request, so that it is listed rather than lost."""
    from engine.recipe import request_from_json
    try:
        request, _lacking = request_from_json(row[2], GenerationRequest(prompt=""))
    except Exception:  # noqa: BLE001 - whatever a damaged page holds, the row is only damaged
        request = None
    uid = row[3] if is_uid(row[3]) else ""
    origin = row[4] if isinstance(row[4], str) else ""
    if request is None:
        return Job(int(row[0]), GenerationRequest(prompt=""), JobState.DAMAGED, uid, origin=origin)
    try:
        state = JobState(row[1])
    except ValueError:
        state = JobState.INTERRUPTED
    return Job(int(row[0]), request, state, uid, origin=origin)
