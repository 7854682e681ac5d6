"""Who queued an image (issue 28): the history keeps a job's origin ("api" for the HTTP API)
from the runner, in the row and in the PNG's own chunk, through a rebuild from the files,
and `from:api` in the search finds those images; histories from before the column open."""
from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest
from PIL import Image

from engine.events import GeneratedImage, GenerationResult
from engine.history import Filters, HistoryStore
from engine.history import schema
from engine.history import store as store_module
from engine.jobs import JobQueue, Runner
from engine.jobs.job import API
from engine.pngmeta import JSON_KEY
from engine.request import GenerationRequest

PIXELS = np.full((16, 16, 3), 90, np.uint8)


def result(prompt: str, seed: int = 1) -> GenerationResult:
    request = GenerationRequest(prompt=prompt, seed=seed, width=64, height=64, model="demo")
    return GenerationResult(request, [GeneratedImage(PIXELS, seed)], "demo", "CPU")


class OneImageEngine:
    def device_name(self):
        return "Test device"

    def backend_name(self):
        return "numpy"

    def generate(self, request, on_progress=None, cancel=None):
        return GenerationResult(request, [GeneratedImage(PIXELS, s) for s in request.seeds()],
                                request.model, "Test device")


def test_the_runner_keeps_an_api_jobs_origin_and_the_windows_as_none(tmp_path):
    root = tmp_path / "hist"
    queue = JobQueue(root / "history.sqlite3")
    runner = Runner(queue, OneImageEngine, lambda: HistoryStore(root))
    queue.add(GenerationRequest("from a client", steps=2, width=128, height=128, model="demo"),
              origin=API)
    queue.add(GenerationRequest("from the window", steps=2, width=128, height=128, model="demo"))
    try:
        assert runner.run_pending() == 2
    finally:
        runner.close()
    with HistoryStore(root) as store:
        by_prompt = {r.prompt: r for r in store.page()}
        assert by_prompt["from a client"].origin == "api"
        assert by_prompt["from the window"].origin == ""
        detail = store.get(by_prompt["from a client"].id)
        assert detail.origin == "api"
        # The file says so too, in our chunk; the window's own job's file says nothing.
        with Image.open(by_prompt["from a client"].path) as image:
            assert json.loads(image.info[JSON_KEY])["origin"] == "api"
        with Image.open(by_prompt["from the window"].path) as image:
            assert "origin" not in json.loads(image.info[JSON_KEY])


def test_the_search_finds_images_by_origin(tmp_path):
    with HistoryStore(tmp_path / "hist") as store:
        store.add_result(result("a red fox", 1), origin="api")
        store.add_result(result("a red fox", 2))
        store.add_result(result("an owl", 3), origin="api")
        prompts = lambda text: sorted(r.prompt for r in store.page(0, 10, Filters(text=text)))
        assert prompts("from:api") == ["a red fox", "an owl"]
        assert prompts("FROM:API") == ["a red fox", "an owl"]
        assert prompts("fox from:api") == ["a red fox"] and store.count(Filters(text="fox from:api")) == 1
        assert prompts("from:api owl") == ["an owl"]
        assert prompts("from:a") == ["a red fox", "an owl"]  # still being typed: a prefix
        assert prompts("from:a fox") == []  # a finished word: no origin is "a"
        assert prompts("from:window") == []
        assert prompts("fox") == ["a red fox", "a red fox"]  # plain words are prompt words


def test_a_rebuild_from_the_images_keeps_the_origin(tmp_path):
    root = tmp_path / "hist"
    with HistoryStore(root) as store:
        store.add_result(result("from a client"), origin="api")
        store.add_result(result("from the window"))
        store.rebuild()
        assert {r.prompt: r.origin for r in store.page()} == {"from a client": "api",
                                                              "from the window": ""}
    for path in root.glob("history.sqlite3*"):
        path.unlink()  # the database lost: the next open imports the files again
    with HistoryStore(root) as store:
        assert {r.prompt: r.origin for r in store.page()} == {"from a client": "api",
                                                              "from the window": ""}
        assert store.page()[0].missing is False


def test_an_origin_that_is_not_one_of_ours_reads_as_none(tmp_path):
    root = tmp_path / "hist"
    with HistoryStore(root) as store:
        store.add_result(result("odd"), origin="API; DROP TABLE images")
        assert store.page()[0].origin == ""
        store.add_result(result("odd too"), origin="x" * 40)
        assert [r.origin for r in store.page()] == ["", ""]


def _version_2_history(root, monkeypatch) -> int:
    """A history as the version before origins wrote it, with one image; its version."""
    with monkeypatch.context() as patch:
        patch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:2])
        with HistoryStore(root) as old:
            conn = old._conn()
            assert "origin" not in [row[1] for row in conn.execute("PRAGMA table_info(generations)")]
            folder = root / "images" / "2001-09"
            folder.mkdir()
            Image.fromarray(PIXELS).save(folder / "old.png")
            # That version's add_result, as far as the row goes.
            with schema.transaction(conn):
                gid = conn.execute(
                    "INSERT INTO generations (uid, created, prompt, request_json, model, status) "
                    "VALUES ('0123456789ab', 1.0e9, 'an old fox', NULL, 'demo', 'done')").lastrowid
                conn.execute("INSERT INTO images (generation_id, path, width, height, created) "
                             "VALUES (?, 'images/2001-09/old.png', 16, 16, 1.0e9)", (gid,))
    conn = sqlite3.connect(root / "history.sqlite3")
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    conn.close()
    return version


def test_a_history_from_before_origins_opens_and_gains_the_column(tmp_path, monkeypatch):
    root = tmp_path / "hist"
    assert _version_2_history(root, monkeypatch) == 2
    with HistoryStore(root) as store:
        old, = store.page()
        assert old.prompt == "an old fox" and old.origin == ""
        assert store.count(Filters(text="from:api")) == 0
        store.add_result(result("new", 5), origin="api")
        assert [r.origin for r in store.page()] == ["api", ""]
    conn = sqlite3.connect(root / "history.sqlite3")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.schema_version()
    conn.close()


def test_a_history_from_before_origins_reads_when_it_cannot_be_written(tmp_path, monkeypatch):
    """Read-only files are never migrated: the column's default stands in for it."""
    root = tmp_path / "hist"
    _version_2_history(root, monkeypatch)

    def refusing(db_path):
        error = sqlite3.OperationalError("attempt to write a readonly database")
        error.sqlite_errorcode = 8
        raise error
    from engine.history import reconcile as reconcile_module
    monkeypatch.setattr(reconcile_module, "connect", refusing)
    monkeypatch.setattr(store_module, "connect", refusing)
    with HistoryStore(root) as store:
        assert store.read_only
        old, = store.page()
        assert old.origin == "" and store.get(old.id).prompt == "an old fox"
        assert store.count(Filters(text="from:api")) == 0
        assert store.count(Filters(text="fox")) == 1
    conn = sqlite3.connect(root / "history.sqlite3")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 2  # untouched
    conn.close()


def test_the_schema_of_a_migrated_file_is_the_fresh_schema(tmp_path, monkeypatch):
    root = tmp_path / "hist"
    _version_2_history(root, monkeypatch)
    HistoryStore(root).close()
    conn = sqlite3.connect(root / "history.sqlite3")
    assert schema.schema_problem(conn) is None
    conn.close()


@pytest.mark.parametrize("text, words, origins", [
    ("from:api", " ", [("api", True)]),
    ("fox from:api ", "fox   ", [("api", False)]),
    ("wherefrom:api", "wherefrom:api", []),
    ("from:", "from:", []),
])
def test_from_words_are_taken_out_of_the_prompt_words(text, words, origins):
    assert store_module._origin_words(text) == (words, origins)


def test_an_image_made_through_the_http_api_is_kept_as_the_apis(tmp_path):
    import httpx

    from tests.engine.api.serving import serving
    with serving(tmp_path / "hist", OneImageEngine) as served:
        response = httpx.post(served.url + "/sdapi/v1/txt2img", timeout=30, json={
            "prompt": "a red circle", "steps": 2, "width": 128, "height": 128, "seed": 7})
        assert response.status_code == 200, response.text
    with HistoryStore(tmp_path / "hist") as store:
        record, = store.page()
        assert record.prompt == "a red circle" and record.origin == "api"
