"""`benchmark --api`: what the HTTP API costs over the same jobs through the queue directly,
how fast /progress answers while a job runs, and a load of valid and invalid requests,
interrupts and disconnects after which every valid job's images must be in the history
once. All on the demo model, in a temporary history, with the server in this process
(uvicorn on its own thread, as `serve` runs it)."""
from __future__ import annotations

import random
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

SIZE, STEPS = 128, 4
JOBS, CLIENTS, LOAD_REQUESTS = 64, 8, 200


def main(print_line: Callable[[str], None] = print) -> dict:
    import psutil

    from engine.api.app import ApiSettings, create_app
    from engine.api.local import LocalJobs
    from engine.api.server import ApiServer
    from engine.request import GenerationRequest

    process = psutil.Process()
    figures: dict = {}
    with tempfile.TemporaryDirectory(prefix="sd-desk-api-bench-") as folder:
        holding = _HoldingFactory()
        jobs = LocalJobs(Path(folder), holding.make).start()
        server = ApiServer(create_app(jobs.port, ApiSettings(model="demo")), "127.0.0.1", 0).start()
        url = server.url + "/sdapi/v1"
        try:
            def direct(seed):
                request = GenerationRequest("a red circle on a blue background", seed=seed,
                                            sampler="euler", steps=STEPS, width=SIZE,
                                            height=SIZE, model="demo", guidance=7.0)
                (future,) = jobs.port.submit([request])
                return future.result()

            def over_http(client, seed):
                response = client.post(url + "/txt2img", json=_body(seed), timeout=120)
                response.raise_for_status()
                return response

            with _client() as client:
                for seed in range(3):  # warm: the engine, the demo's networks, the HTTP path
                    direct(seed)
                    over_http(client, seed)
                # Alternated, job by job, so the machine's other load falls on both alike
                # (a shared machine drifts by tens of ms between two blocks of 64).
                direct_times, http_times = [], []
                for seed in range(JOBS):
                    started = time.perf_counter()
                    direct(seed)
                    direct_times.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    over_http(client, seed)
                    http_times.append(time.perf_counter() - started)
                figures["direct_s_per_job"] = statistics.median(direct_times)
                figures["http_s_per_job"] = statistics.median(http_times)
                figures["overhead_s_per_job"] = statistics.median(
                    h - d for h, d in zip(http_times, direct_times))

            def one_client(index):
                with _client() as client:
                    for seed in range(index, JOBS, CLIENTS):
                        over_http(client, seed)
            started = time.perf_counter()
            with ThreadPoolExecutor(CLIENTS) as pool:
                list(pool.map(one_client, range(CLIENTS)))
            figures["http_8_clients_s_per_job"] = (time.perf_counter() - started) / JOBS
            figures.update(_progress_rate(url, holding))
            figures.update(_load(url, jobs, Path(folder), process))
        finally:
            server.stop()
            jobs.stop()
    figures["window"] = _window_stall()
    for line in render(figures):
        print_line(line)
    return figures


def _client(**options):
    """An HTTP client that sends a request's headers and body without waiting: httpx leaves
    Nagle on, and a POST then waits 40 ms for the server's delayed ACK (measured here), a
    cost of that client, not of the server. requests (webuiapi's) turns it off too."""
    import socket

    import httpx
    nodelay = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
    return httpx.Client(transport=httpx.HTTPTransport(socket_options=nodelay), **options)


def _body(seed: int, changes: dict = None, **more) -> dict:
    body = {"prompt": "a red circle on a blue background", "seed": seed, "steps": STEPS,
            "width": SIZE, "height": SIZE, "sampler_name": "Euler", "cfg_scale": 7.0}
    body.update(changes or {}, **more)
    return body


class _HoldingFactory:
    """The demo engine, able to park a job mid-way (for /progress against a running job)."""

    def __init__(self):
        self.hold = threading.Event()
        self.reached = threading.Event()
        self.release = threading.Event()

    def make(self):
        from engine.pipeline import Engine
        inner = Engine()
        factory = self

        class Engine_:
            def __getattr__(self, name):
                return getattr(inner, name)

            def generate(self, request, on_progress=None, cancel=None, **kwargs):
                def report(progress):
                    on_progress(progress)
                    if factory.hold.is_set() and progress.phase == "denoising" and progress.step == 1:
                        factory.reached.set()
                        while not (factory.release.is_set() or cancel.cancelled):
                            time.sleep(0.002)
                return inner.generate(request, report, cancel, **kwargs)
        return Engine_()


def _progress_rate(url: str, holding: _HoldingFactory, seconds: float = 3.0) -> dict:
    holding.hold.set()
    holding.reached.clear()
    holding.release.clear()
    call = threading.Thread(target=lambda: _client().post(url + "/txt2img", json=_body(999), timeout=120))
    call.start()
    holding.reached.wait(60)
    out = {}
    try:
        for clients in (1, CLIENTS):
            counts = [0] * clients
            stop = time.perf_counter() + seconds

            def poll(index):
                with _client() as client:
                    while time.perf_counter() < stop:
                        assert client.get(url + "/progress").json()["state"]["sampling_step"] == 1
                        counts[index] += 1
            with ThreadPoolExecutor(clients) as pool:
                list(pool.map(poll, range(clients)))
            out[f"progress_rps_{clients}"] = sum(counts) / seconds
    finally:
        holding.hold.clear()
        holding.release.set()
        call.join(60)
    return out


def _load(url: str, jobs, history_dir: Path, process) -> dict:
    """8 clients, 200 requests: valid jobs, invalid bodies, interrupts, clients that hang up
    mid-job. Afterwards every valid job's images are in the history once (none twice; none
    missing but those an interrupt stopped)."""
    import httpx

    from engine.history import HistoryStore
    rss_before = process.memory_info().rss
    kinds = (["valid"] * 100 + ["invalid"] * 50 + ["interrupt"] * 20 + ["disconnect"] * 20
             + ["progress"] * 10)
    random.Random(28).shuffle(kinds)
    first_seed = 10_000  # above the seeds of the timing runs, which the same history holds
    seeds = iter(range(first_seed, first_seed + len(kinds)))
    lock = threading.Lock()
    outcome = {"valid_ok": [], "valid_interrupted": [], "disconnected": [], "invalid_4xx": 0,
               "errors": []}
    bad_bodies = [{"steps": 0}, {"width": 100}, {"sampler_name": "Heun"}, {"prompt": ""},
                  {"script_name": "x"}, {"batch_size": 99}, {"seed": "x"}]

    def one(kind: str) -> None:
        with lock:
            seed = next(seeds)
        client = _client()
        try:
            if kind == "valid":
                r = client.post(url + "/txt2img", json=_body(seed), timeout=300)
                r.raise_for_status()
                key = "valid_ok" if r.json()["images"] else "valid_interrupted"
                with lock:
                    outcome[key].append(seed)
            elif kind == "invalid":
                r = client.post(url + "/txt2img", json=_body(seed, random.choice(bad_bodies)), timeout=60)
                assert 400 <= r.status_code < 500, r.text
                with lock:
                    outcome["invalid_4xx"] += 1
            elif kind == "interrupt":
                client.post(url + "/interrupt", timeout=60).raise_for_status()
            elif kind == "disconnect":
                with lock:
                    outcome["disconnected"].append(seed)
                try:  # hangs up long before the job can be done
                    client.post(url + "/txt2img", json=_body(seed, steps=30), timeout=0.05)
                except httpx.TimeoutException:
                    pass
            else:
                client.get(url + "/progress", timeout=60).raise_for_status()
        except Exception as error:  # noqa: BLE001 - counted and shown, not raised
            with lock:
                outcome["errors"].append(f"{kind}: {error}")
        finally:
            client.close()

    started = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(one, kinds))
    # Jobs whose clients hung up still run to the history: wait for the queue to empty.
    deadline = time.time() + 300
    while (jobs.queue.jobs() or jobs.runner.running_job() is not None) and time.time() < deadline:
        time.sleep(0.1)
    seconds = time.perf_counter() - started
    alive = httpx.get(url + "/sd-models", timeout=30).status_code == 200
    with HistoryStore(history_dir, reconcile=False) as store:
        records = store.page(0, 100_000)
    by_seed: dict[int, int] = {}
    for record in (r for r in records if r.seed is not None and r.seed >= first_seed):
        by_seed[record.seed] = by_seed.get(record.seed, 0) + 1
    valid_seeds = outcome["valid_ok"]
    return {
        "load_seconds": seconds, "load_requests": len(kinds),
        "load_valid_ok": len(valid_seeds),
        "load_valid_interrupted": len(outcome["valid_interrupted"]),
        "load_valid_missing": sum(1 for s in valid_seeds if by_seed.get(s, 0) == 0),
        "load_duplicates": sum(1 for n in by_seed.values() if n > 1),
        "load_disconnected_in_history": sum(1 for s in outcome["disconnected"] if by_seed.get(s)),
        "load_disconnected": len(outcome["disconnected"]),
        "load_invalid_4xx": outcome["invalid_4xx"], "load_errors": outcome["errors"][:5],
        "load_error_count": len(outcome["errors"]), "load_server_answers_after": alive,
        "rss_before_mb": rss_before / 2**20, "rss_after_mb": process.memory_info().rss / 2**20,
    }


def _window_stall() -> dict:
    """The window's event-loop lateness while it serves (gui/api_probe.py, a process of its
    own: engine/ never imports Qt)."""
    import json
    import subprocess
    import sys
    repo = Path(__file__).resolve().parents[2]
    with tempfile.TemporaryDirectory(prefix="sd-desk-api-probe-") as folder:
        out = Path(folder) / "probe.json"
        try:
            subprocess.run([sys.executable, "-m", "gui.api_probe", "--json", str(out)], cwd=repo,
                           check=True, stdout=sys.stderr, timeout=900)
            return json.loads(out.read_text(encoding="utf-8"))
        except (subprocess.SubprocessError, OSError, ValueError) as error:
            return {"error": str(error)}


def _window_lines(w: dict) -> list[str]:
    if "error" in w:
        return [f"Window serving: not measured ({w['error']})"]
    def late(s: dict) -> str:
        return f"{s['p50_ms']} / {s['p99_ms']} / {s['max_ms']} ms"
    return [f"Window event loop, late by p50 / p99 / max ({w['jobs']} demo jobs, {w['size']}px, "
            f"{w['steps']} steps):",
            f"  idle                            {late(w['idle'])}",
            f"  the same jobs from its queue    {late(w['own_jobs'])}",
            f"  serving them over the API       {late(w['serving'])}  ({w['seconds']} s, "
            f"{w['progress_polls']} /progress polls beside)"]


def render(f: dict) -> list[str]:
    over = f["overhead_s_per_job"]
    over8 = f["http_8_clients_s_per_job"] - f["direct_s_per_job"]
    return [
        f"API benchmark: demo model, {SIZE}x{SIZE}, {STEPS} steps, Euler, {JOBS} jobs",
        f"  through the queue directly      {f['direct_s_per_job'] * 1000:8.1f} ms/job (median)",
        f"  over HTTP, one client           {f['http_s_per_job'] * 1000:8.1f} ms/job (median; "
        f"overhead, median of pairs, {over * 1000:+.1f} ms)",
        f"  over HTTP, {CLIENTS} clients at once     {f['http_8_clients_s_per_job'] * 1000:8.1f} ms/job "
        f"(wall / {JOBS}; {over8 * 1000:+.1f} ms against the direct median)",
        f"  /progress while a job runs      {f['progress_rps_1']:8.0f} req/s (1 client), "
        f"{f['progress_rps_8']:.0f} req/s ({CLIENTS} clients)",
        f"Load: {f['load_requests']} requests from {CLIENTS} clients in {f['load_seconds']:.1f} s",
        f"  valid jobs answered with images {f['load_valid_ok']}, interrupted "
        f"{f['load_valid_interrupted']}; missing from the history {f['load_valid_missing']}; "
        f"seeds in the history twice {f['load_duplicates']}",
        f"  clients that hung up mid-job    {f['load_disconnected']}, their images in the "
        f"history {f['load_disconnected_in_history']} (the others were interrupted, or hung up before being queued)",
        f"  invalid bodies answered 4xx     {f['load_invalid_4xx']}; client errors "
        f"{f['load_error_count']} {f['load_errors']}",
        f"  server answers afterwards       {f['load_server_answers_after']}",
        f"  RSS before / after              {f['rss_before_mb']:.0f} / {f['rss_after_mb']:.0f} MB",
        *(_window_lines(f["window"]) if "window" in f else []),
    ]
