"""Preferences > API in the window: AUTOMATIC1111's API over the window's own queue, its jobs
marked in the queue list, and cancelling from either side."""
from __future__ import annotations

import socket
import threading

import httpx
import pytest

from engine.api import preference as api_preference

BODY = {"prompt": "a red circle", "steps": 3, "width": 128, "height": 128, "seed": 4,
        "sampler_name": "Euler"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def serving_preference():
    api_preference.save(api_preference.ApiPreference(enabled=True, port=free_port()))
    yield
    api_preference.save(api_preference.ApiPreference())


def post_in_thread(url: str, body: dict) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def call():
        outcome["response"] = httpx.post(url + "/sdapi/v1/txt2img", json=body, timeout=60)
    thread = threading.Thread(target=call)
    thread.start()
    return thread, outcome


def test_the_window_serves_api_jobs_through_its_own_queue(qtbot, serving_preference, window, engine):
    assert window.api.url is not None
    origins = []
    window.worker.queue.subscribe(lambda e: type(e).__name__ == "Queued" and origins.append(e.origin))
    thread, outcome = post_in_thread(window.api.url, BODY)
    qtbot.waitUntil(lambda: "response" in outcome, timeout=20_000)
    thread.join()
    response = outcome["response"]
    assert response.status_code == 200 and len(response.json()["images"]) == 1
    assert origins == ["api"] and engine.requests[-1].prompt == "a red circle"


def test_cancel_works_from_either_side(qtbot, serving_preference, window, engine):
    engine.hold_at_step = 2
    thread, outcome = post_in_thread(window.api.url, BODY)
    qtbot.waitUntil(engine.holding.is_set, timeout=20_000)
    # A second API call waits in the window's queue, marked as the API's.
    second, second_outcome = post_in_thread(window.api.url, {**BODY, "seed": 5})
    qtbot.waitUntil(lambda: window.queue_panel.list.count() == 2, timeout=10_000)
    assert "[API]" in window.queue_panel.list.item(1).text()
    progress = httpx.get(window.api.url + "/sdapi/v1/progress").json()
    assert progress["state"]["sampling_step"] == 1 and progress["state"]["job_count"] == 2
    window.generation.cancel()  # the window's Cancel stops the API's running job
    qtbot.waitUntil(lambda: "response" in outcome, timeout=20_000)
    assert outcome["response"].json()["images"] == []
    qtbot.waitUntil(engine.holding.is_set, timeout=20_000)  # the second call's job runs
    httpx.post(window.api.url + "/sdapi/v1/interrupt")  # the API's interrupt stops it
    qtbot.waitUntil(lambda: "response" in second_outcome, timeout=20_000)
    assert second_outcome["response"].json()["images"] == []
    thread.join()
    second.join()


def test_an_unsafe_choice_is_refused_before_anything_is_saved(qtbot):
    from gui.api_preferences import ApiTab
    tab = ApiTab()
    qtbot.addWidget(tab)
    tab.enabled.setChecked(True)
    tab.host.setText("0.0.0.0")
    assert "Set a password" in tab.problem()
    tab.auth.setText("me:s3cret")
    assert tab.problem() is None
