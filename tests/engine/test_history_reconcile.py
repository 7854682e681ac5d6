"""The folder is the truth: opening the store brings the database back in line with it."""
import os
import sqlite3
import time

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from engine.events import GeneratedImage, GenerationResult
from engine.history import Filters, HistoryError, HistoryStore
from engine.history.store import file_name
from engine.pngmeta import save_png
from engine.request import GenerationRequest


def make_result(prompt="a red fox", batch=1, seed=10, negative=""):
    request = GenerationRequest(prompt=prompt, negative_prompt=negative, seed=seed, batch=batch,
                                width=128, height=128, steps=5, model="sd-v1.4")
    rng = np.random.default_rng(seed)
    images = [GeneratedImage(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8), s)
              for s in request.seeds()]
    return GenerationResult(request, images, model_label="sd-v1.4", device="CPU")


def snapshot(store, filters=None):
    """What a person sees: prompt, seed, model, size and favorite of every image."""
    return sorted((r.path.name, r.prompt, r.seed, r.model, r.width, r.height, r.favorite)
                  for r in store.page(0, 1000, filters))


@pytest.fixture
def root(tmp_path):
    return tmp_path / "hist"


def fill(root):
    with HistoryStore(root) as store:
        store.add_result(make_result("a red fox, \"sly\"\nat night 🦊", batch=3, seed=7, negative="blurry"))
        store.add_result(make_result("a cat", seed=20))
        return snapshot(store)


def test_image_saved_without_its_row_is_imported(root):
    with HistoryStore(root) as store:
        store.add_result(make_result("first"))
    # What a crash between the rename and the commit leaves behind.
    request = GenerationRequest(prompt="lost in a crash", seed=5, batch=2, steps=9)
    folder = root / "images" / "2026-11"
    folder.mkdir(parents=True, exist_ok=True)
    name = file_name(1_764_000_000.25, "0123456789ab", 1)
    save_png(folder / name, np.zeros((32, 32, 3), np.uint8), request, 6, "sd-v1.4")

    with HistoryStore(root) as store:
        assert store.last_report.imported == 1
        record, = store.page(0, 10, Filters(text="crash"))
        assert record.path == folder / name
        assert record.created.timestamp() == pytest.approx(1_764_000_000.25, abs=1e-6)
        detail = store.get(record.id)
        assert detail.request == request.replace(seed=6, batch=1)
        assert detail.generation_request.seed == 5 and detail.status == "imported"
        assert store.count() == 2
    with HistoryStore(root) as store:
        assert store.last_report.imported == 0 and store.count() == 2


def test_images_from_other_tools_dropped_in_are_imported(root):
    HistoryStore(root).close()
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "castle, fog\nNegative prompt: people\n"
                                "Steps: 30, Sampler: Euler a, CFG scale: 5, Seed: 77, Size: 512x512, "
                                "Model: dreamshaper_8, Model hash: 879db523c3")
    Image.new("RGB", (40, 30)).save(root / "images" / "download.png", pnginfo=info)
    Image.new("RGB", (20, 20)).save(root / "images" / "no recipe.png")
    (root / "images" / "notes.txt").write_text("not an image")

    with HistoryStore(root) as store:
        assert store.last_report.imported == 2
        castle, = store.page(0, 10, Filters(text="castle"))
        detail = store.get(castle.id)
        assert (detail.prompt, detail.negative_prompt, detail.seed) == ("castle, fog", "people", 77)
        assert detail.model == "dreamshaper_8" and (detail.width, detail.height) == (40, 30)
        assert detail.request.steps == 30 and detail.request.guidance == 5.0
        plain = [r for r in store.page() if r.path.name == "no recipe.png"][0]
        assert plain.prompt == "" and store.get(plain.id).request is None


def test_vanished_file_is_marked_missing_and_found_again(root):
    fill(root)
    with HistoryStore(root) as store:
        victim = store.page(0, 1)[0]
    hidden = victim.path.with_name("hidden.bak")
    os.replace(victim.path, hidden)

    with HistoryStore(root) as store:
        assert store.last_report.marked_missing == 1
        assert victim.id not in [r.id for r in store.page()]
        shown = [r for r in store.page(0, 10, Filters(include_missing=True)) if r.id == victim.id]
        assert shown and shown[0].missing
        assert store.get(victim.id).prompt == victim.prompt  # the row is kept, not dropped
    os.replace(hidden, victim.path)
    with HistoryStore(root) as store:
        assert store.last_report.found_again == 1
        assert victim.id in [r.id for r in store.page()]


def test_deleted_database_is_rebuilt_from_the_images(root):
    before = fill(root)
    for suffix in ("", "-wal", "-shm"):
        (root / f"history.sqlite3{suffix}").unlink(missing_ok=True)
    with HistoryStore(root) as store:
        assert store.last_report.imported == 4
        assert snapshot(store) == before
        batch = store.page(0, 10, Filters(text="fox"))
        assert len({r.generation_id for r in batch}) == 1  # the batch is still one generation
        assert store.get(batch[0].id).negative_prompt == "blurry"


def test_database_without_its_wal_survives(root):
    """A stale WAL left beside a deleted database must not get in the way of the rebuild."""
    before = fill(root)
    conn = sqlite3.connect(root / "history.sqlite3")
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    conn.execute("UPDATE images SET favorite = 1")  # now only in the WAL
    wal = (root / "history.sqlite3-wal").read_bytes()
    conn.close()
    (root / "history.sqlite3").unlink()
    (root / "history.sqlite3-wal").write_bytes(wal)
    with HistoryStore(root) as store:
        assert store.damaged_db is None  # a clean start, not a detour through "damaged"
        assert snapshot(store) == before
        assert store._conn().execute("PRAGMA integrity_check").fetchone()[0] == "ok"


@pytest.mark.parametrize("damage", ["garbage", "truncated", "zeroed pages"])
def test_damaged_database_is_set_aside_and_rebuilt(root, damage):
    before = fill(root)
    db = root / "history.sqlite3"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = bytearray(db.read_bytes())
    if damage == "garbage":
        data[:] = os.urandom(len(data))
    elif damage == "truncated":
        data = data[: len(data) // 3]
    else:
        page = int.from_bytes(data[16:18], "big")
        for n in range(1, len(data) // page):  # every page but the header's
            data[n * page:(n + 1) * page] = bytes(page)
    db.write_bytes(bytes(data))

    with HistoryStore(root) as store:
        assert store.damaged_db is not None and store.damaged_db.exists()
        assert store.damaged_db.read_bytes() == bytes(data)  # kept for whoever wants to look
        assert snapshot(store) == before
        assert store._conn().execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_locked_database_is_an_error_not_damage(root, monkeypatch):
    fill(root)
    import engine.history.reconcile as rec

    def locked(*args, **kwargs):
        error = sqlite3.OperationalError("database is locked")
        error.sqlite_errorcode = 5
        raise error

    monkeypatch.setattr(rec, "connect", locked)
    with pytest.raises(HistoryError, match="locked"):
        HistoryStore(root)
    assert not list(root.glob("history.sqlite3.damaged*"))


def test_crash_during_delete_and_undo_is_repaired_by_name(root):
    fill(root)
    with HistoryStore(root) as store:
        record = store.page(0, 1)[0]
        store.set_favorite(record.id, True)
    # The file reached the trash but the row never heard of it.
    trashed = root / "trash" / record.path.relative_to(root / "images")
    trashed.parent.mkdir(parents=True, exist_ok=True)
    os.replace(record.path, trashed)
    with HistoryStore(root) as store:
        assert store.last_report.relinked == 1 and store.last_report.imported == 0
        moved = store.get(record.id)
        assert moved.deleted and moved.path == trashed and moved.favorite
        # And the other way: the file went back, the row still says trash.
        os.replace(trashed, record.path)
        assert store.reconcile().relinked == 1
        back = store.get(record.id)
        assert not back.deleted and back.path == record.path and back.favorite


def test_files_found_in_the_trash_come_back_as_trash(root):
    before = fill(root)
    with HistoryStore(root) as store:
        store.delete([r.id for r in store.page(0, 2)])
    (root / "history.sqlite3").unlink()
    with HistoryStore(root) as store:
        assert store.count() == len(before) - 2
        assert store.count(Filters(trash=True)) == 2
        assert len(store.undo_delete()) == 2 and store.count() == len(before)


def test_stale_temp_files_go_and_fresh_ones_stay(root):
    HistoryStore(root).close()
    stale = root / "images" / ".tmp-old.png"
    fresh = root / "images" / ".tmp-new.png"
    stale.write_bytes(b"half a png")
    fresh.write_bytes(b"being written")
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    with HistoryStore(root) as store:
        assert store.last_report.removed_temp == 1 and store.last_report.imported == 0
    assert not stale.exists() and fresh.exists()


def test_unreadable_png_is_reported_and_left_alone(root):
    HistoryStore(root).close()
    save_png(root / "images" / "whole.png", np.zeros((32, 32, 3), np.uint8),
             GenerationRequest(prompt="whole"), 1, "m")
    broken = root / "images" / "broken.png"
    broken.write_bytes((root / "images" / "whole.png").read_bytes()[:-40])
    with HistoryStore(root) as store:
        assert store.last_report.imported == 1
        assert [name for name, _ in store.last_report.skipped] == ["images/broken.png"]
    assert broken.exists()


def test_rebuild_swaps_in_a_new_index_with_the_same_ids_and_favorites(root):
    fill(root)
    with HistoryStore(root) as store:
        favorite = store.page(0, 1, Filters(text="cat"))[0]
        store.set_favorite(favorite.id, True)
        before = snapshot(store)
        ids = sorted((r.path.name, r.id) for r in store.page(0, 100))
        report = store.rebuild()
        assert report.imported == len(before)
        assert snapshot(store) == before  # favorites included
        assert sorted((r.path.name, r.id) for r in store.page(0, 100)) == ids
    assert not list(root.glob("history.sqlite3.*-*"))  # nothing set aside


def test_missing_file_found_later_somewhere_else_is_relinked_not_duplicated(root):
    fill(root)
    with HistoryStore(root) as store:
        record = store.page(0, 1)[0]
        away = root.parent / "away.png"
        os.replace(record.path, away)
        assert store.reconcile().marked_missing == 1
        store.delete(record.id)  # deleting a missing image keeps its last known place
        assert store.get(record.id).path == record.path
        store.undo_delete(record.id)
        elsewhere = root / "images" / "moved by hand" / record.path.name
        elsewhere.parent.mkdir()
        os.replace(away, elsewhere)
        report = store.reconcile()
        assert (report.relinked, report.imported) == (1, 0)
        assert store.get(record.id).path == elsewhere and not store.get(record.id).missing
        assert store.count() == 4


def test_two_foreign_files_with_one_name_do_not_confuse_relinking(root):
    HistoryStore(root).close()
    for sub in ("a", "b"):
        (root / "images" / sub).mkdir()
        Image.new("RGB", (8, 8)).save(root / "images" / sub / "download.png")
    with HistoryStore(root) as store:
        assert store.count() == 2
    os.replace(root / "images" / "a" / "download.png", root / "images" / "download.png")
    (root / "images" / "b" / "download.png").unlink()
    with HistoryStore(root) as store:
        report = store.last_report
        assert (report.relinked, report.marked_missing, report.imported) == (1, 1, 0)
        assert store.count() == 1


def test_favorites_survive_damage_that_spares_them(root):
    fill(root)
    with HistoryStore(root) as store:
        favorite = store.page(0, 1, Filters(text="cat"))[0]
        store.set_favorite(favorite.id, True)
        before = snapshot(store)
    db = root / "history.sqlite3"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    index_page = conn.execute(
        "SELECT rootpage FROM sqlite_master WHERE name = 'images_by_created'").fetchone()[0]
    conn.close()
    data = bytearray(db.read_bytes())
    start = (index_page - 1) * page_size
    data[start:start + page_size] = b"\xff" * page_size  # an index is lost, the table is fine
    db.write_bytes(bytes(data))

    with HistoryStore(root) as store:
        assert store.damaged_db is not None
        assert store.last_report.favorites_kept == 1
        assert snapshot(store) == before
