"""Jobs, their queue (kept in the history database) and the runner that takes them to the history.

    queue = JobQueue(history_location().db_path)     # JobQueue() for one in memory
    queue.subscribe(print)                           # the event stream (events.py)
    runner = Runner(queue, Engine, HistoryStore)
    queue.add(request)
    runner.run_pending()                             # on the thread that owns the engine
"""
from engine.jobs.errors import describe_error
from engine.jobs.eta import EtaClock
from engine.jobs.events import (ENDINGS, Cancelled, EngineFailed, EngineLoading, EngineReady,
                                Failed, Finished, JobDamaged, JobEvent, JobProgress, Queued,
                                QueueChanged, Started)
from engine.jobs.job import Job, JobState
from engine.jobs.queue import JobQueue
from engine.jobs.runner import Runner

__all__ = ["ENDINGS", "Cancelled", "EngineFailed", "EngineLoading", "EngineReady", "EtaClock",
           "Failed", "Finished", "Job", "JobDamaged", "JobEvent", "JobProgress", "JobQueue",
           "JobState", "Queued", "QueueChanged", "Runner", "Started", "describe_error"]
