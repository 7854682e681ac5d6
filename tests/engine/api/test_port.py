"""The API's door into a queue (engine/api/port.py) and the jobs' origin mark in the queue."""
from __future__ import annotations

import sqlite3

from engine.api.port import QueuePort
from engine.jobs import Cancelled, JobQueue, Runner
from engine.jobs.job import API
from engine.request import GenerationRequest


def request(seed=1):
    return GenerationRequest("a red circle", seed=seed, steps=2, width=128, height=128, model="demo")


def idle_port(queue):
    """A port whose runner is never woken: jobs stay waiting, as behind a long job."""
    return QueuePort(queue, Runner(queue, lambda: None), wake=lambda: None, sources=None)


def test_a_call_whose_waiting_job_the_window_removes_does_not_wait_for_ever(tmp_path):
    queue = JobQueue(tmp_path / "q.sqlite3")
    port = idle_port(queue)
    first, second = port.submit([request(1), request(2)])
    job_ids = [job.id for job in queue.waiting()]
    queue.remove(job_ids[1])  # the window's Remove on an API job
    assert isinstance(second.result(timeout=5), Cancelled)
    assert not first.done()
    queue.clear()  # Cancel all
    assert isinstance(first.result(timeout=5), Cancelled)


def test_closing_the_port_ends_every_waiting_call(tmp_path):
    queue = JobQueue(tmp_path / "q.sqlite3")
    port = idle_port(queue)
    (waiting,) = port.submit([request()])
    port.close()
    assert isinstance(waiting.result(timeout=5), Cancelled)


def test_api_jobs_keep_their_mark_across_a_restart(tmp_path):
    path = tmp_path / "q.sqlite3"
    queue = JobQueue(path)
    idle_port(queue).submit([request()])
    queue.add(request(2))  # the window's own
    queue.close()
    jobs = JobQueue(path).jobs()
    assert [job.origin for job in jobs] == [API, ""]
    assert "[API]" in jobs[0].describe() and "API" not in jobs[1].describe()


def test_a_queue_from_before_the_mark_opens_and_its_jobs_are_the_windows(tmp_path):
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("""CREATE TABLE jobs (id INTEGER PRIMARY KEY, queue TEXT NOT NULL,
                    position REAL NOT NULL, state TEXT NOT NULL, request_json TEXT NOT NULL,
                    created REAL NOT NULL)""")
    conn.execute("INSERT INTO jobs VALUES (1, 'window', 1, 'pending', ?, 0)", (request().to_json(),))
    conn.commit()
    conn.close()
    queue = JobQueue(path)
    (job,) = queue.jobs()
    assert job.origin == "" and job.request.prompt == "a red circle"
    assert queue.take().origin == ""


class RunningOne:
    """A runner stand-in that is running job `job_id` and records what it is told."""

    def __init__(self, job_id):
        self.job_id, self.cancelled = job_id, []

    def running_job(self):
        return self.job_id

    def cancel(self, job_id):
        self.cancelled.append(job_id)


def test_skip_is_reported_in_progress_and_counts_come_from_the_queue(tmp_path):
    from engine.jobs import Started

    queue = JobQueue(tmp_path / "q.sqlite3")
    runner = RunningOne(job_id=None)
    port = QueuePort(queue, runner, wake=lambda: None, sources=None)
    first, _ = port.submit([request(1), request(2)])
    assert port.running().waiting == 2
    job_id = queue.take().id
    runner.job_id = job_id
    queue.emit(Started(job_id, request(1)))
    assert port.running().waiting == 1 and not port.running().skipped
    port.skip()
    assert runner.cancelled == [job_id] and port.running().skipped


def test_a_closed_port_stops_listening_to_the_queue(tmp_path):
    queue = JobQueue(tmp_path / "q.sqlite3")
    before = len(queue._listeners)
    port = idle_port(queue)
    port.close()
    assert len(queue._listeners) == before  # each Preferences > API save made a port that stayed
