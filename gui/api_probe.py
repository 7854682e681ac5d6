"""`python -m gui.api_probe --json OUT`: how late the window's event loop runs while it serves
the API (Preferences > API) to a client sending txt2img jobs and another polling /progress;
the same lateness measure as gui/probe.py's stall figure, beside the window idle and
running the same jobs from its own queue. Run by `benchmark --api`
(engine/benchmark/api_load.py) as a process of its own, in a scratch data folder."""
from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

from gui.probe import INTERVAL_MS, summarize


def measure(jobs: int = 16, size: int = 128, steps: int = 4) -> dict:
    scratch = Path(tempfile.mkdtemp(prefix="sd-desk-api-probe-"))
    os.environ["SD_DESK_DATA_DIR"] = str(scratch / "data")  # settings and history: the scratch's
    os.environ["SD_DESK_HISTORY_DIR"] = str(scratch / "history")
    from PySide6.QtCore import QEventLoop, QSettings, Qt, QTimer

    from engine.api import preference
    from gui.app import make_application, make_window
    from gui.services import default_services

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    preference.save(preference.ApiPreference(enabled=True, port=port))
    app = make_application([sys.argv[0]])  # noqa: F841 - held so the application lives
    window = make_window(default_services(), QSettings(str(scratch / "w.ini"), QSettings.Format.IniFormat))
    ready = QEventLoop()
    window.worker.event.connect(lambda event, images: type(event).__name__ in (
        "EngineReady", "EngineFailed") and ready.quit(), Qt.ConnectionType.QueuedConnection)
    window.show()
    ready.exec()
    url = window.api.url + "/sdapi/v1"

    samples: list[float] = []
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        samples.append(max(0.0, (now - last[0]) * 1000 - INTERVAL_MS))
        last[0] = now
    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.timeout.connect(tick)

    def run_loop_while(busy) -> list[float]:
        samples.clear()
        last[0] = time.perf_counter()
        loop = QEventLoop()
        check = QTimer()
        check.timeout.connect(lambda: busy() or loop.quit())
        timer.start(INTERVAL_MS)
        check.start(50)
        loop.exec()
        timer.stop()
        check.stop()
        return list(samples)

    until = time.perf_counter() + 2.0
    idle = run_loop_while(lambda: time.perf_counter() < until)

    # The same jobs from the window's own queue: what generating costs the loop without the API.
    from engine.request import GenerationRequest
    finished = [0]
    window.worker.event.connect(lambda event, images: type(event).__name__ == "Finished"
                                and finished.__setitem__(0, finished[0] + 1),
                                Qt.ConnectionType.QueuedConnection)
    for seed in range(jobs):
        window.worker.queue.add(GenerationRequest(
            "a red circle on a blue background", seed=seed, steps=steps, width=size,
            height=size, sampler="euler", guidance=7.0, model="demo"))
    window.worker.wake()
    own = run_loop_while(lambda: finished[0] < jobs)

    import httpx
    done = {"jobs": 0, "polls": 0}
    stop = threading.Event()

    def client() -> None:
        with httpx.Client(timeout=120) as http:
            for seed in range(jobs):
                http.post(url + "/txt2img", json={
                    "prompt": "a red circle on a blue background", "seed": seed, "steps": steps,
                    "width": size, "height": size, "sampler_name": "Euler"}).raise_for_status()
                done["jobs"] += 1
        stop.set()

    def poller() -> None:
        with httpx.Client(timeout=30) as http:
            while not stop.is_set():
                http.get(url + "/progress").raise_for_status()
                done["polls"] += 1
    threads = [threading.Thread(target=client), threading.Thread(target=poller)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    serving = run_loop_while(lambda: not stop.is_set())
    seconds = time.perf_counter() - started
    for thread in threads:
        thread.join()
    window.close()
    return {"idle": summarize(idle), "own_jobs": summarize(own), "serving": summarize(serving), "jobs": done["jobs"],
            "progress_polls": done["polls"], "seconds": round(seconds, 2), "size": size,
            "steps": steps}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gui.api_probe")
    parser.add_argument("--jobs", type=int, default=16)
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args(argv)
    args.json.write_text(json.dumps(measure(args.jobs)), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
