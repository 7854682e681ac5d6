"""A batch spread over a Ray cluster: one actor per GPU (or per CPU where there is no GPU),
each with its own engine that keeps its model loaded between jobs.

Results come back as PNG bytes carrying their recipe; this process decodes them and
hands them to the caller, which saves them, so the history stays one SQLite file on
this machine. A job whose actor dies is queued again, and Ray restarts the actor
(loading its model again); results are deduplicated by job id by the caller.

Steps come back apart from results: each worker tells a small board actor its job's
latest step (fire and forget, so a step never waits on the network), and the caller's
loop reads the board whenever no result has come for a moment.
"""
from __future__ import annotations

import io
import os
import socket
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional

import numpy as np

from engine.batch.plan import BatchJob
from engine.events import GeneratedImage, GenerationResult

LOCAL = "local"
MAX_ATTEMPTS = 3  # a job that kills its worker this often is failed, not retried forever
# A worker that died is restarted by Ray (and loads its model again); it is asked again
# until it answers or this long has passed without an answer. Counting failed asks instead
# gave up on workers killed three times in 1.5 s, and then on their jobs.
RESTART_WAIT_S = 120.0
PING_PAUSE_S = 0.25  # between asks of a worker that is restarting: no busy loop
STEP_POLL_SECONDS = 0.2  # how often the caller reads the workers' steps while it waits
# A cluster's head answers in milliseconds; this allows a slow network, not a missing head.
CONNECT_TIMEOUT_S = 10.0
# Ray waits for a head that accepts the connection but never answers as Ray in rounds of
# about 40 s, by default for many rounds; one is enough to say so.
GCS_CONNECT_ROUNDS = "1"
UNREACHABLE_HINT = ("check the address (`ray start --head` prints it) and that the cluster "
                    "is running, or use --ray local")


class ClusterError(RuntimeError):
    """No cluster to run on (Ray missing, address unreachable, no resources)."""


@contextmanager
def ray_session(address: str, num_cpus: Optional[int] = None):
    """Connects to `address` (or starts a local instance for "local"), unless this process
    is connected already (tests share one); disconnects at the end only what it opened."""
    try:
        import ray
    except ImportError:
        raise ClusterError("Ray is not installed: pip install -e \".[cluster]\"") from None
    opened = not ray.is_initialized()
    if opened:
        if address != LOCAL:
            check_reachable(address)
        try:
            with _bounded_gcs_wait(address != LOCAL):
                ray.init(address=None if address == LOCAL else address, num_cpus=num_cpus,
                         include_dashboard=False, log_to_driver=False, logging_level="ERROR",
                         configure_logging=True)
        except (ConnectionError, RuntimeError, ValueError) as error:
            raise ClusterError(f"Cannot reach the Ray cluster at {address}: {error}; "
                               f"{UNREACHABLE_HINT}.") from None
    try:
        yield ray
    finally:
        if opened:
            ray.shutdown()


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Raises ClusterError unless something accepts a connection at HOST:PORT within
    `timeout`: Ray itself would wait for it for ever. Addresses Ray resolves itself
    ("auto", no port) are left to Ray."""
    host_port = _host_and_port(address)
    if host_port is None:
        return
    try:
        with socket.create_connection(host_port, timeout=timeout):
            pass
    except socket.timeout:
        raise ClusterError(f"Cannot reach the Ray cluster at {address}: nothing answered within "
                           f"{timeout:g} s; {UNREACHABLE_HINT}.") from None
    except OSError as error:
        why = error.strerror or str(error) or type(error).__name__
        raise ClusterError(f"Cannot reach the Ray cluster at {address} ({why.lower()}); "
                           f"{UNREACHABLE_HINT}.") from None


def _host_and_port(address: str) -> Optional[tuple[str, int]]:
    where = address.split("://", 1)[-1].rstrip("/")
    host, colon, port = where.rpartition(":")
    if not colon or not port.isdigit():
        return None
    host = host.strip("[]")  # an IPv6 address in brackets
    if not host or not 0 < int(port) < 65536:
        raise ClusterError(f"{address!r} is not a Ray address: give HOST:PORT, as "
                           "`ray start --head` prints it, or 'local'.")
    return host, int(port)


@contextmanager
def _bounded_gcs_wait(remote: bool):
    """Ray's own wait for a remote head, bounded unless the person set it."""
    variable = "RAY_gcs_server_port_wait_time_s"
    if not remote or variable in os.environ:
        yield
        return
    os.environ[variable] = GCS_CONNECT_ROUNDS
    try:
        yield
    finally:
        os.environ.pop(variable, None)


def _board_class(ray):
    class StepBoard:
        """The latest step fraction of each running job, as its worker reports it."""

        def __init__(self):
            self._latest: dict[str, float] = {}

        def report(self, job_id: str, fraction: float) -> None:
            self._latest[job_id] = fraction

        def take(self) -> dict[str, float]:
            latest, self._latest = self._latest, {}
            return latest

    # No CPU: on a cluster whose every CPU holds a worker it must still be placed.
    return ray.remote(num_cpus=0)(StepBoard)


def _worker_class(ray):
    class BatchWorker:
        """Lives in a Ray worker process; builds one engine and keeps it between jobs."""

        def __init__(self, weights_dir: Optional[str], random_weights: bool, threads: int,
                     folders: Optional[dict] = None):
            use_run_folders(folders or {})
            if threads:
                # One actor per CPU: more threads each would only fight over the cores.
                from engine.compute import limit_cpu_threads
                limit_cpu_threads(threads)
            from engine.pipeline import Engine
            self.engine = Engine(weights_dir=Path(weights_dir) if weights_dir else None,
                                 random_weights=random_weights)

        def pid(self) -> int:
            return os.getpid()

        def run(self, job_id: str, request: dict, board=None) -> dict:
            """`board`: the StepBoard to tell each step (a task argument, not a constructor
            one: Ray restarts a dead actor from its constructor arguments, and keeps an
            actor handle among them in the object store, where a restart may not find it)."""
            from engine.errors import EngineError
            from engine.pngmeta import png_info
            from engine.request import GenerationRequest
            from PIL import Image

            request = GenerationRequest.from_dict(request)

            def report(progress) -> None:
                if board is not None and progress.phase == "denoising":
                    # Not awaited: the step goes on while the board takes note.
                    board.report.remote(job_id, progress.step / max(progress.total, 1))
            try:
                result = self.engine.generate(request, on_progress=report)
            except EngineError as error:
                return {"job_id": job_id, "error": str(error)}
            pngs = []
            for image in result.images:
                buffer = io.BytesIO()
                Image.fromarray(image.pixels).save(
                    buffer, format="PNG", pnginfo=png_info(request, image.seed, result.model_label,
                                                     model_hash=result.model_hash,
                                                     network_hashes=result.network_hashes))
                pngs.append((image.seed, buffer.getvalue()))
            return {"job_id": job_id, "pngs": pngs, "model_label": result.model_label,
                    "model_hash": result.model_hash, "device": result.device,
                    "network_hashes": result.network_hashes,
                    "timings": result.timings, "pid": os.getpid()}

    return ray.remote(BatchWorker)


def decode_result(job: BatchJob, payload: dict) -> GenerationResult:
    """The PNGs a worker sent, as the result this process would have made itself."""
    from PIL import Image

    images = []
    for seed, data in payload["pngs"]:
        with Image.open(io.BytesIO(data)) as image:
            images.append(GeneratedImage(np.asarray(image.convert("RGB")), int(seed)))
    return GenerationResult(job.request, images, payload["model_label"],
                            f"{payload['device']} (Ray worker)", timings=payload["timings"],
                            model_hash=payload.get("model_hash", ""),
                            network_hashes=payload.get("network_hashes", {}))


@dataclass
class ClusterRun:
    """What happened, for the caller's summary and the fault test."""
    actors: int = 0
    reruns: list[str] = field(default_factory=list)  # job ids queued again after a worker died


class WorkerPool:
    """The cluster's actors: one per GPU, or one per CPU where the cluster has no GPU.

    Keep one pool for several batches and each actor keeps its model loaded between them.
    """

    def __init__(self, ray, weights_dir: Optional[Path] = None, random_weights: bool = False,
                 actors: Optional[int] = None):
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        count = actors or gpus or int(resources.get("CPU", 0))
        if count < 1:
            raise ClusterError("The Ray cluster has no CPU or GPU to run on.")
        options = {"num_gpus": 1, "num_cpus": 0} if gpus else {"num_cpus": 1}
        # Restarted without limit: a killed worker comes back and loads its model again.
        worker = _worker_class(ray).options(max_restarts=-1, max_task_retries=0, **options)
        self.ray = ray
        self.board = _board_class(ray).remote()
        self.actors = [worker.remote(str(weights_dir) if weights_dir else None, random_weights,
                                     0 if gpus else 1, this_runs_folders()) for _ in range(count)]

    def close(self) -> None:
        for actor in self.actors + ([self.board] if self.board is not None else []):
            self.ray.kill(actor)
        self.actors, self.board = [], None

    def __enter__(self) -> "WorkerPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def this_runs_folders() -> dict[str, list[str]]:
    """The checkpoint, LoRA and embedding folders this run was given on its command line
    (--checkpoints-dir, --lora-dir, --embeddings-dir): the workers are other processes."""
    from engine.models import extra_networks
    from engine.models.library import library
    found = {kind: [str(f) for f in extra_networks.run_folders(kind)] for kind in extra_networks.KINDS}
    found["checkpoint"] = [str(f) for f in library().run_folders()]
    return found


def use_run_folders(folders: dict) -> None:
    """In a worker: the folders of `this_runs_folders`, for this process too."""
    from engine.models import extra_networks
    from engine.models.library import library
    for kind, paths in folders.items():
        if kind == "checkpoint":
            library().add_folders(Path(p) for p in paths)
        elif paths:
            extra_networks.add_run_folders(kind, [Path(p) for p in paths])


def run_on_cluster(pool: WorkerPool, jobs: Iterable[BatchJob],
                   on_result: Callable[[BatchJob, GenerationResult], None],
                   on_failed: Callable[[BatchJob, str], None],
                   on_dispatch: Optional[Callable[[BatchJob, int], None]] = None,
                   on_step: Optional[Callable[[BatchJob, float], None]] = None) -> ClusterRun:
    """Runs every job on the pool's actors and calls back here, in this thread.

    `on_dispatch(job, worker pid)` is told each time a job is sent to a worker, and
    `on_step(job, fraction)` how far a running job's denoising has come.
    Each actor runs one job at a time, so a dying worker takes only its own job with it.
    """
    from ray.exceptions import RayActorError, RayTaskError

    ray = pool.ray
    state = ClusterRun(actors=len(pool.actors))
    pids: dict = {}
    idle: deque = deque()
    waiting = deque(jobs)
    attempts: dict[str, int] = {}
    silent_since: dict = {}  # actor -> when it first failed to answer, since its last answer
    running: dict = {}  # ObjectRef -> (job, actor); job None: a ping, answered once it is up
    for actor in pool.actors:
        running[actor.pid.remote()] = (None, actor)
    while waiting or any(job is not None for job, _ in running.values()):
        while idle and waiting:
            actor, job = idle.popleft(), waiting.popleft()
            attempts[job.id] = attempts.get(job.id, 0) + 1
            running[actor.run.remote(job.id, job.request.to_dict(),
                                     pool.board if on_step is not None else None)] = (job, actor)
            if on_dispatch is not None:
                on_dispatch(job, pids[actor])
        if not running:
            for job in waiting:
                on_failed(job, "no Ray worker could start (see the Ray logs)")
            break
        ready, _ = ray.wait(list(running), num_returns=1,
                            timeout=STEP_POLL_SECONDS if on_step is not None else None)
        if not ready:
            on_step = _pass_steps(pool, running, on_step)
            continue
        job, actor = running.pop(ready[0])
        try:
            payload = ray.get(ready[0])
        except RayActorError:
            if job is not None:
                if attempts[job.id] >= MAX_ATTEMPTS:
                    on_failed(job, f"its worker died {attempts[job.id]} times running it")
                else:
                    state.reruns.append(job.id)
                    waiting.appendleft(job)  # the first actor to be free takes it
            since = silent_since.setdefault(actor, time.monotonic())
            if time.monotonic() - since < RESTART_WAIT_S:
                if job is None:
                    time.sleep(PING_PAUSE_S)  # it is restarting: ask again in a moment
                running[actor.pid.remote()] = (None, actor)  # Ray restarts it meanwhile
            continue
        except RayTaskError as error:  # a fault in our code on the worker, not a dead worker
            if job is not None:
                on_failed(job, f"its worker failed: {error.cause!r}")
            idle.append(actor)
            continue
        if job is None:
            pids[actor] = payload
            silent_since.pop(actor, None)
            idle.append(actor)
        elif "error" in payload:
            idle.append(actor)
            on_failed(job, payload["error"])
        else:
            idle.append(actor)
            on_result(job, decode_result(job, payload))
    return state


def _pass_steps(pool: WorkerPool, running: dict, on_step):
    """Hands each running job's latest step to `on_step`; reports for jobs no longer
    running (a late step, a dead worker's) are dropped. None once the board is gone."""
    from ray.exceptions import RayActorError
    try:
        latest = pool.ray.get(pool.board.take.remote())
    except RayActorError:
        return None  # the steps stop; the jobs and their results go on
    jobs = {job.id: job for job, _ in running.values() if job is not None}
    for job_id, fraction in latest.items():
        if job_id in jobs:
            on_step(jobs[job_id], fraction)
    return on_step
