"""engine/jobs: the queue in the history database, and the runner's one event stream."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from engine.events import CancelToken, GeneratedImage, GenerationResult, Progress
from engine.errors import OutOfMemory
from engine.jobs import (Cancelled, EngineReady, Failed, Finished, JobProgress, JobQueue,
                         JobState, Queued, QueueChanged, Runner, Started)
from engine.request import GenerationRequest


class StepEngine:
    """Reports `request.steps` steps of 0.5 s each; "oom" in a prompt raises OutOfMemory.
    `hold` parks the loop before step 2 until released or cancelled."""

    def __init__(self, hold: bool = False):
        self.hold = hold
        self.holding = threading.Event()
        self.release_hold = threading.Event()
        self.prompts: list[str] = []
        self.steps_run = 0

    def device_name(self):
        return "Test device"

    def backend_name(self):
        return "numpy"

    def generate(self, request, on_progress=None, cancel: CancelToken = None):
        self.prompts.append(request.prompt)
        if "oom" in request.prompt:
            raise OutOfMemory("Out of memory at 512x512: try 256x256.")
        on_progress(Progress("encoding", 0, request.steps))
        for step in range(1, request.steps + 1):
            if self.hold and step == 2:
                self.holding.set()
                while not (self.release_hold.is_set() or cancel.cancelled):
                    self.release_hold.wait(0.005)
            if cancel.cancelled:
                return GenerationResult(request, [], request.model, "Test device", cancelled=True)
            self.steps_run += 1
            on_progress(Progress("denoising", step, request.steps,
                                 np.zeros((1, 4, 4, 3), np.uint8), 0.5))
        on_progress(Progress("decoding", request.steps, request.steps))
        images = [GeneratedImage(np.full((8, 8, 3), 9, np.uint8), s) for s in request.seeds()]
        return GenerationResult(request, images, request.model, "Test device",
                                timings={"decoding": 1.0})


class ListHistory:
    def __init__(self, fail: str = ""):
        self.results, self.fail = [], fail

    def add_result(self, result, origin=""):
        if self.fail:
            raise OSError(self.fail)
        self.results.append(result)
        return [100 + len(self.results) * 10 + i for i in range(len(result.images))]


def request(prompt="a red circle", steps=3, **changes):
    return GenerationRequest(prompt, steps=steps, width=128, height=128, model="demo", **changes)


@pytest.fixture
def db(tmp_path):
    return tmp_path / "history.sqlite3"


def test_a_job_runs_to_the_history_through_one_event_stream(db):
    queue = JobQueue(db)
    events = []
    queue.subscribe(events.append)
    history = ListHistory()
    runner = Runner(queue, StepEngine, lambda: history)
    job = queue.add(request(steps=3))
    assert runner.run_pending() == 1

    stream = [e for e in events if not isinstance(e, QueueChanged)]
    kinds = [type(e).__name__ for e in stream]
    assert kinds == ["Queued", "Started", "EngineLoading", "EngineReady", "JobProgress",
                     "JobProgress", "JobProgress", "JobProgress", "JobProgress", "JobProgress",
                     "Finished"]
    steps = [e for e in events if isinstance(e, JobProgress) and e.phase == "denoising"]
    # 0.5 s a step; the first step alone says nothing (it carries one-off work), and the
    # first decode is unknown until measured.
    assert [(e.step, e.eta_seconds) for e in steps] == [(1, None), (2, 0.5), (3, 0.0)]
    assert steps[0].preview.shape == (1, 4, 4, 3)
    finished = events[-1]
    assert isinstance(finished, Finished) and finished.job_id == job.id
    assert finished.entry_ids == (110,) and len(finished.result.images) == 1
    assert history.results == [finished.result]
    assert queue.jobs() == []  # a done job leaves the queue
    assert isinstance(stream[3], EngineReady) and stream[3].device == "Test device"


def test_the_next_job_of_the_same_size_counts_the_measured_decode(db):
    queue = JobQueue(db)
    etas = []
    queue.subscribe(lambda e: isinstance(e, JobProgress) and e.phase == "denoising"
                    and etas.append(e.eta_seconds))
    runner = Runner(queue, StepEngine)
    queue.add(request(steps=2))
    queue.add(request(steps=2))
    runner.run_pending()
    # The second job's first step is estimated from the first job's steps and decode.
    assert etas == [None, 0.0, 1.5, 1.0]


def test_a_failure_is_worded_for_people_and_the_queue_goes_on(db):
    queue = JobQueue(db)
    events = []
    queue.subscribe(events.append)
    runner = Runner(queue, StepEngine, ListHistory)
    queue.add(request("oom please"))
    queue.add(request("a blue square"))
    assert runner.run_pending() == 2
    endings = [e for e in events if isinstance(e, (Finished, Failed, Cancelled))]
    assert isinstance(endings[0], Failed) and endings[0].title == "Out of memory"
    assert "256x256" in endings[0].message
    assert isinstance(endings[1], Finished)
    assert queue.jobs() == []


def test_a_history_that_refuses_keeps_the_images_in_the_finished_event(db):
    queue = JobQueue(db)
    events = []
    queue.subscribe(events.append)
    Runner(queue, StepEngine, lambda: ListHistory(fail="No space left on device")).run(
        queue.add(request()) and queue.take())
    finished = events[-1]
    assert isinstance(finished, Finished) and finished.entry_ids == ()
    assert finished.unsaved == "No space left on device" and finished.result.images


def test_an_engine_that_cannot_load_fails_the_job_and_says_why(db):
    def broken():
        raise RuntimeError("no device")
    queue = JobQueue(db)
    events = []
    queue.subscribe(events.append)
    Runner(queue, broken).run_pending() if queue.add(request()) else None
    failed = [e for e in events if isinstance(e, Failed)]
    assert failed and failed[0].message == "RuntimeError: no device"


def test_cancel_lands_within_one_step_and_saves_nothing(db):
    queue = JobQueue(db)
    events = []
    queue.subscribe(events.append)
    engine, history = StepEngine(hold=True), ListHistory()
    runner = Runner(queue, lambda: engine, lambda: history)
    queue.add(request(steps=50))
    thread = threading.Thread(target=runner.run_pending)
    thread.start()
    assert engine.holding.wait(10)
    assert runner.cancel()
    thread.join(10)
    assert not thread.is_alive()
    assert engine.steps_run == 1  # the step after the cancel never ran
    assert isinstance(events[-1], Cancelled) and not events[-1].interrupted
    assert history.results == [] and queue.jobs() == []


def test_a_cancel_during_decoding_keeps_the_decoded_images(db):
    """The last step is done and decoding takes seconds: finishing it beats losing the job."""
    queue = JobQueue(db)
    events = []
    queue.subscribe(events.append)
    history = ListHistory()

    class CancelledWhileDecoding(StepEngine):
        def generate(self, request, on_progress=None, cancel=None):
            def progress(p):
                on_progress(p)
                if p.phase == "decoding":
                    runner.cancel()
            return super().generate(request, progress, cancel)

    runner = Runner(queue, lambda: CancelledWhileDecoding(), lambda: history)
    queue.add(request(steps=3))
    runner.run_pending()
    assert isinstance(events[-1], Finished) and len(history.results) == 1


def test_the_step_loop_decodes_after_a_cancel_that_comes_after_the_last_step():
    from engine.demo.backend import load_demo_backend
    from engine.sampler import sample
    token = CancelToken()

    def progress(p):
        if p.phase == "denoising" and p.step == p.total:
            token.cancel()
    out = sample(load_demo_backend(64, 64), GenerationRequest("a red circle", steps=3, width=64,
                 height=64, model="demo", preview=False), on_progress=progress, cancel=token)
    assert out.images.shape == (1, 64, 64, 3) and out.images.std() > 0


def test_stop_leaves_the_running_job_interrupted_and_the_waiting_ones_queued(db):
    queue = JobQueue(db)
    engine = StepEngine(hold=True)
    runner = Runner(queue, lambda: engine)
    first = queue.add(request("first", steps=5))
    second = queue.add(request("second"))
    thread = threading.Thread(target=runner.run_pending)
    thread.start()
    assert engine.holding.wait(10)
    runner.stop()
    thread.join(10)
    assert engine.prompts == ["first"]
    assert [(j.id, j.state) for j in queue.jobs()] == [(first.id, JobState.INTERRUPTED),
                                                       (second.id, JobState.PENDING)]


def test_pause_resume_reorder_remove_and_cancel_all(db):
    queue = JobQueue(db)
    ids = [queue.add(request(name)).id for name in ("a", "b", "c", "d")]
    assert queue.move(ids[3], -2)  # d before b
    assert [j.request.prompt for j in queue.waiting()] == ["a", "d", "b", "c"]
    assert not queue.move(ids[0], -1)  # already first
    assert queue.remove(ids[1])
    assert [j.request.prompt for j in queue.waiting()] == ["a", "d", "c"]

    queue.pause()
    assert queue.paused and queue.take() is None
    queue.resume()
    taken = queue.take()
    assert taken.request.prompt == "a" and taken.state is JobState.RUNNING
    assert not queue.remove(taken.id)  # the running one is the runner's to cancel
    runner = Runner(queue, StepEngine)
    assert queue.clear() == [ids[3], ids[2]]
    assert [j.id for j in queue.jobs()] == [taken.id]
    assert runner.cancel(ids[2]) is False  # gone already


def test_the_queue_is_in_the_history_file_and_reopens_in_order(db):
    queue = JobQueue(db)
    for name in ("one", "two", "three"):
        queue.add(request(name, seed=7))
    queue.move(queue.waiting()[2].id, -1)
    queue.close()
    again = JobQueue(db)
    assert [j.request.prompt for j in again.waiting()] == ["one", "three", "two"]
    assert again.waiting()[0].request == request("one", seed=7)
    assert again.recovered == 0 and not again.paused
    import sqlite3
    mode = sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_a_job_left_running_comes_back_interrupted_first_and_paused_then_retry_runs_it(db):
    queue = JobQueue(db)
    first = queue.add(request("first"))
    queue.add(request("second"))
    queue.take()  # running when the process "died": the queue is never closed
    again = JobQueue(db)
    assert again.recovered == 1 and again.paused
    assert [(j.id, j.state) for j in again.jobs()] == [(first.id, JobState.INTERRUPTED),
                                                       (first.id + 1, JobState.PENDING)]
    assert again.take() is None  # paused: nothing runs until the person says so
    assert again.retry(first.id)
    assert not again.paused
    engine = StepEngine()
    Runner(again, lambda: engine).run_pending()
    assert engine.prompts == ["first", "second"]
    assert again.jobs() == []


def test_the_cli_queue_in_memory_leaves_no_file(tmp_path):
    queue = JobQueue()
    events = []
    queue.subscribe(events.append)
    job = queue.add(request())
    assert isinstance(events[0], Queued) and events[0].job_id == job.id
    Runner(queue, StepEngine).run_pending()
    assert isinstance(events[-1], Finished) and list(tmp_path.iterdir()) == []
    assert any(isinstance(e, Started) for e in events)


def test_a_request_its_own_validation_refuses_is_not_queued(tmp_path):
    """A stored request is read back field by field: a width of 64 came back as 512 and ran."""
    from engine.errors import InvalidRequest

    queue = JobQueue(tmp_path / "history.sqlite3")
    with pytest.raises(InvalidRequest, match="Width 64 is not supported"):
        queue.add(GenerationRequest("a red circle", width=64, model="demo"))
    assert queue.jobs() == []
