"""The history store as the gallery and the CLI use it."""
import json
import os
import sqlite3
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.events import GeneratedImage, GenerationResult
from engine.history import Filters, HistoryError, HistoryStore
from engine.history import schema
from engine.history import store as store_module
from engine.paths import HISTORY_DIR_ENV, history_location
from engine.pngmeta import read_png_metadata
from engine.request import GenerationRequest


def make_result(prompt="a red fox", batch=1, seed=10, model="sd-v1.4", negative="", cancelled=False,
                sampler="ddim"):
    request = GenerationRequest(prompt=prompt, negative_prompt=negative, seed=seed, batch=batch,
                                width=128, height=128, steps=5, guidance=6.5, model=model,
                                sampler=sampler)
    rng = np.random.default_rng(seed)
    images = [GeneratedImage(rng.integers(0, 255, (32, 48, 3), dtype=np.uint8), s)
              for s in request.seeds()]
    return GenerationResult(request, images, model_label=model, device="CPU", cancelled=cancelled,
                            timings={"denoising": 1.25})


class Clock:
    def __init__(self, start=1_700_000_000.0):
        self.now = start

    def __call__(self):
        self.now += 1.0
        return self.now


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(store_module, "_now", c)
    return c


@pytest.fixture
def store(tmp_path, clock):
    with HistoryStore(tmp_path / "hist") as s:
        yield s


def test_add_result_writes_each_image_with_its_recipe(store):
    result = make_result("a red fox, \"sly\": 🦊", batch=3, seed=41, negative="blurry")
    records = store.add_result(result)
    assert [r.seed for r in records] == [41, 42, 43]
    for record, image in zip(records, result.images):
        assert record.path.is_file()
        assert record.path.parent.parent == store.location.images_dir
        assert (record.width, record.height) == (48, 32)
        with Image.open(record.path) as saved:
            assert np.array_equal(np.asarray(saved), image.pixels)
        meta = read_png_metadata(record.path, verify=True)
        assert meta.source == "sd_desk" and meta.seed == record.seed and meta.batch_seed == 41
        assert meta.request.prompt == "a red fox, \"sly\": 🦊"
        assert "Negative prompt: blurry" in meta.parameters_text
    assert len({r.generation_id for r in records}) == 1
    assert store.count() == 3


def test_file_names_never_come_from_the_prompt(store):
    record, = store.add_result(make_result(prompt="../../../etc/passwd\x00 C:\\evil:name*?"))
    assert record.path.resolve().is_relative_to(store.location.images_dir.resolve())
    assert "passwd" not in record.path.name and "evil" not in record.path.name
    assert store.get(record.id).prompt == "../../../etc/passwd\x00 C:\\evil:name*?"


def test_cancelled_result_is_not_kept(store):
    assert store.add_result(make_result(cancelled=True)) == []
    assert store.count() == 0
    assert list(store.location.images_dir.rglob("*.png")) == []


def test_pages_are_newest_first_and_cover_everything_once(store):
    ids = [store.add_result(make_result(seed=i))[0].id for i in range(7)]
    pages = [store.page(offset, 3) for offset in (0, 3, 6)]
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [r.id for p in pages for r in p] == ids[::-1]
    created = [r.created for p in pages for r in p]
    assert created == sorted(created, reverse=True)
    assert store.count() == 7


def test_text_search_finds_words_and_prefixes_in_the_prompt_only(store):
    fox = store.add_result(make_result("A red fox in snow", negative="cat"))[0].id
    cat = store.add_result(make_result("a sleeping cat", seed=2))[0].id
    store.add_result(make_result("café au lait", seed=3))
    assert [r.id for r in store.page(0, 10, Filters(text="fox"))] == [fox]
    assert [r.id for r in store.page(0, 10, Filters(text="RED fo"))] == [fox]  # typing, prefix
    assert [r.id for r in store.page(0, 10, Filters(text="cat"))] == [cat]
    found = {r.id for r in store.page(0, 10, Filters(text="cat", include_negative=True))}
    assert found == {fox, cat}
    assert store.count(Filters(text="cafe")) == 1  # accents do not matter
    assert store.count(Filters(text="red cat")) == 0  # every word must match


@pytest.mark.parametrize("text", ['"', "fox AND", "NOT", "(", "a*b", "prompt:", "{x}", "-", "NEAR("])
def test_search_text_is_never_read_as_query_syntax(store, text):
    store.add_result(make_result("NOT a fox (really) a*b prompt: {x}"))
    assert store.count(Filters(text=text)) in (0, 1)  # no exception is the point
    assert store.count(Filters(text="NOT")) == 1


def test_emoji_only_search_matches_by_substring(store):
    store.add_result(make_result("a fox 🦊 at night"))
    store.add_result(make_result("a fox at noon", seed=2))
    assert store.count(Filters(text="🦊")) == 1
    assert store.count(Filters(text="%")) == 0


def test_filters_for_favorites_model_and_dates(store, clock):
    a = store.add_result(make_result(model="sd-v1.4"))[0]
    b = store.add_result(make_result(model="sd-v2.1", seed=2))[0]
    c = store.add_result(make_result(model="sd-v2.1", seed=3))[0]
    store.set_favorite(a.id, True)
    assert [r.id for r in store.page(0, 10, Filters(favorites_only=True))] == [a.id]
    assert [r.id for r in store.page(0, 10, Filters(model="sd-v2.1"))] == [c.id, b.id]
    assert store.models() == ["sd-v1.4", "sd-v2.1"]
    since = b.created  # inclusive
    until = c.created  # exclusive
    assert [r.id for r in store.page(0, 10, Filters(since=since, until=until))] == [b.id]
    assert store.count(Filters(since=since.timestamp())) == 2
    naive_local = c.created.astimezone().replace(tzinfo=None)
    assert store.count(Filters(since=naive_local)) == 1


def test_get_gives_each_image_its_own_request(store):
    records = store.add_result(make_result(batch=2, seed=100, negative="ugly"))
    detail = store.get(records[1].id)
    assert detail.request.seed == 101
    assert detail.request.batch == 1 and detail.request.negative_prompt == "ugly"
    assert detail.generation_request.seed == 100 and detail.generation_request.batch == 2
    assert detail.timings == {"denoising": 1.25} and detail.device == "CPU"
    assert detail.status == "done"
    assert store.get(99999) is None


def test_favorite_toggles_and_persists(store, tmp_path):
    record, = store.add_result(make_result())
    assert store.toggle_favorite(record.id) is True
    assert store.get(record.id).favorite is True
    assert store.toggle_favorite(record.id) is False
    store.set_favorite(record.id, True)
    store.close()
    with HistoryStore(tmp_path / "hist") as again:
        assert again.get(record.id).favorite is True
    with pytest.raises(HistoryError):
        HistoryStore(tmp_path / "other").toggle_favorite(12345)


def test_delete_goes_to_trash_and_undo_brings_it_back(store):
    keep, = store.add_result(make_result())
    gone = store.add_result(make_result(batch=2, seed=5))
    first_bytes = gone[0].path.read_bytes()
    assert sorted(store.delete([r.id for r in gone])) == sorted(r.id for r in gone)
    assert [r.id for r in store.page()] == [keep.id]
    trashed = store.page(0, 10, Filters(trash=True))
    assert {r.id for r in trashed} == {r.id for r in gone}
    for r in trashed:
        assert r.deleted and r.path.is_file() and store.location.trash_dir in r.path.parents
    assert not gone[0].path.exists()

    assert sorted(store.undo_delete()) == sorted(r.id for r in gone)
    assert store.count() == 3 and store.count(Filters(trash=True)) == 0
    assert gone[0].path.read_bytes() == first_bytes
    assert store.undo_delete() == []


def test_undo_restores_only_the_last_delete(store):
    a, = store.add_result(make_result())
    b, = store.add_result(make_result(seed=2))
    store.delete(a.id)
    store.delete(b.id)
    assert store.undo_delete() == [b.id]
    assert store.count(Filters(trash=True)) == 1
    assert store.undo_delete([a.id]) == [a.id]


def test_empty_trash_removes_files_and_rows(store):
    keep, = store.add_result(make_result())
    gone = store.add_result(make_result(batch=2, seed=5))
    store.delete([r.id for r in gone])
    trashed_paths = [r.path for r in store.page(0, 10, Filters(trash=True))]
    assert store.empty_trash() == 2
    assert not any(p.exists() for p in trashed_paths)
    assert store.count(Filters(trash=True)) == 0 and store.get(gone[0].id) is None
    assert store.get(keep.id) is not None and keep.path.exists()
    assert store.undo_delete() == []
    generations = store._conn().execute("SELECT count(*) FROM generations").fetchone()[0]
    assert generations == 1


def test_export_copies_with_metadata_and_never_overwrites(store, tmp_path):
    record, = store.add_result(make_result("export me"))
    out = tmp_path / "out"
    first = store.export(record.id, out)
    second = store.export(record.id, out)
    assert first != second and first.read_bytes() == second.read_bytes() == record.path.read_bytes()
    assert read_png_metadata(second).request.prompt == "export me"
    assert sorted(p.name for p in out.iterdir()) == sorted([first.name, second.name])
    assert record.path.exists()
    record.path.unlink()
    with pytest.raises(HistoryError, match="missing"):
        store.export(record.id, out)


def test_gui_thread_reads_while_worker_thread_writes(store):
    errors = []
    done = threading.Event()

    def writer():
        try:
            for i in range(25):
                store.add_result(make_result(f"image {i}", seed=i))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)
        finally:
            done.set()

    def reader():
        try:
            while not done.is_set():
                n = store.count()
                page = store.page(0, 50)
                assert len(page) >= min(n, 50)
        except Exception as e:  # pragma: no cover
            errors.append(e)

    threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert store.count() == 25
    assert len(store._connections) >= 2  # each thread used its own connection


def test_database_is_in_wal_mode(store):
    store.add_result(make_result())
    mode = sqlite3.connect(store.location.db_path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


# ------------------------------------------------------------ where the data lives

def test_history_folder_precedence(tmp_path, monkeypatch):
    monkeypatch.delenv(HISTORY_DIR_ENV, raising=False)
    default = history_location()
    assert default.root == Path(os.environ["SD_DESK_DATA_DIR"]) / "history"
    monkeypatch.setenv(HISTORY_DIR_ENV, str(tmp_path / "env"))
    assert history_location().root == tmp_path / "env"
    assert history_location(tmp_path / "flag").root == tmp_path / "flag"
    assert history_location(tmp_path / "flag").db_path == tmp_path / "flag" / "history.sqlite3"


def test_default_store_stays_inside_the_test_sandbox(monkeypatch):
    monkeypatch.delenv(HISTORY_DIR_ENV, raising=False)
    with HistoryStore(reconcile=False) as s:
        assert Path(os.environ["SD_DESK_DATA_DIR"]) in s.location.db_path.parents
        assert s.location.db_path.exists()


# ------------------------------------------------------------ schema versions

def test_a_history_from_a_newer_app_is_refused_untouched(tmp_path):
    root = tmp_path / "hist"
    HistoryStore(root).close()
    conn = sqlite3.connect(root / "history.sqlite3")
    conn.execute(f"PRAGMA user_version = {schema.schema_version() + 1}")
    conn.close()
    before = (root / "history.sqlite3").read_bytes()
    with pytest.raises(HistoryError, match="newer SD Desk"):
        HistoryStore(root)
    assert (root / "history.sqlite3").read_bytes() == before
    assert not list(root.glob("history.sqlite3.damaged*"))


def test_a_new_migration_upgrades_an_old_file_and_keeps_its_data(tmp_path, monkeypatch, clock):
    root = tmp_path / "hist"
    with HistoryStore(root) as old:
        record, = old.add_result(make_result("kept"))
        old.set_favorite(record.id, True)
    monkeypatch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS + [
        ["ALTER TABLE images ADD COLUMN rating INTEGER NOT NULL DEFAULT 0"]])
    with HistoryStore(root) as new:
        assert new._conn().execute("PRAGMA user_version").fetchone()[0] == len(schema.MIGRATIONS)
        detail = new.get(record.id)
        assert detail.prompt == "kept" and detail.favorite
        assert [tuple(r) for r in new._conn().execute("SELECT rating FROM images")] == [(0,)]


def test_a_failing_migration_leaves_the_old_version(tmp_path, monkeypatch):
    root = tmp_path / "hist"
    HistoryStore(root).close()
    monkeypatch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS + [
        ["ALTER TABLE images ADD COLUMN x INTEGER", "THIS IS NOT SQL"]])
    with pytest.raises(sqlite3.Error):
        schema.migrate(schema.connect(root / "history.sqlite3"))
    conn = sqlite3.connect(root / "history.sqlite3")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(schema.MIGRATIONS) - 1
    assert "x" not in [r[1] for r in conn.execute("PRAGMA table_info(images)")]


def test_a_reconcile_racing_a_save_does_not_duplicate_it(tmp_path, monkeypatch, clock):
    """The GUI opening (and reconciling) while the CLI is between its rename and its commit."""
    root = tmp_path / "hist"
    writer = HistoryStore(root)
    gui = HistoryStore(root)
    real_save = store_module.save_png

    def save_then_gui_reconciles(path, *args, **kwargs):
        real_save(path, *args, **kwargs)
        assert gui.reconcile().imported == 1  # the GUI sees the file before its row exists

    monkeypatch.setattr(store_module, "save_png", save_then_gui_reconciles)
    records = writer.add_result(make_result("raced", batch=2))
    assert gui.count() == 2 and writer.count() == 2
    assert gui.count(Filters(text="raced")) == 2  # the search index followed the takeover
    for record in records:
        detail = gui.get(record.id)
        assert detail.status == "done" and detail.timings == {"denoising": 1.25}
    assert {r.generation_id for r in gui.page()} == {records[0].generation_id}
    generations = gui._conn().execute("SELECT count(*) FROM generations").fetchone()[0]
    assert generations == 1
    writer.close()
    gui.close()


def test_benchmark_script_runs(tmp_path, capsys):
    from engine.history import bench
    assert bench.main(["--entries", "12", "--repeat", "1", "--dir", str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    assert "open + first page" in out and "search 'fox'" in out and "(12 images)" in out


def test_history_needs_no_tensorflow():
    """The GUI opens the gallery, and the CLI lists it, without paying for TensorFlow."""
    import subprocess
    import sys
    code = ("import sys, engine.history, engine.commands.history, engine.pngmeta; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'keras_cv', 'PySide6')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_deleting_same_named_files_in_turn_never_overwrites_one(store):
    first = store.location.images_dir / "download.png"
    Image.new("RGB", (8, 8), "red").save(first)
    store.reconcile()
    one, = store.page()
    store.delete(one.id)
    Image.new("RGB", (8, 8), "blue").save(first)  # another file of the same name, dropped in later
    store.reconcile()
    two, = store.page()
    store.delete(two.id)
    trashed = {r.id: r.path for r in store.page(0, 10, Filters(trash=True))}
    assert len(set(trashed.values())) == 2 and all(p.exists() for p in trashed.values())
    assert Image.open(trashed[one.id]).getpixel((0, 0)) == (255, 0, 0)
    assert Image.open(trashed[two.id]).getpixel((0, 0)) == (0, 0, 255)
    Image.new("RGB", (8, 8), "green").save(first)  # and a third where the first one lived
    assert store.undo_delete(one.id) == [one.id]
    assert Image.open(store.get(one.id).path).getpixel((0, 0)) == (255, 0, 0)
    assert Image.open(first).getpixel((0, 0)) == (0, 128, 0)


def test_the_sampler_filter_knows_recipes_from_before_samplers(store):
    from engine.history import Filters
    karras = store.add_result(make_result(seed=1, sampler="dpmpp-2m-karras"))[0].id
    ddim = store.add_result(make_result(seed=2, sampler="ddim"))[0].id
    old = store.add_result(make_result(seed=3))[0].id
    conn = store._conn()
    generation, raw = conn.execute("SELECT generation_id, request_json FROM images i JOIN "
                                   "generations g ON i.generation_id = g.id WHERE i.id = ?",
                                   (old,)).fetchone()
    data = json.loads(raw)
    del data["sampler"]
    conn.execute("UPDATE generations SET request_json = ? WHERE id = ?",
                 (json.dumps(data), generation))
    conn.commit()
    assert [r.id for r in store.page(filters=Filters(sampler="dpmpp-2m-karras"))] == [karras]
    assert sorted(r.id for r in store.page(filters=Filters(sampler="ddim"))) == sorted([ddim, old])
