"""Opening the history: only changed folders are listed; unwritable folders still open to read."""
import os
import sqlite3
import time

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

import main
from engine.events import GeneratedImage, GenerationResult
from engine.history import HistoryError, HistoryStore
from engine.history import reconcile as reconcile_module
from engine.request import GenerationRequest

PIXELS = np.full((32, 32, 3), 60, np.uint8)


def add(store, prompt="a fox"):
    request = GenerationRequest(prompt=prompt, seed=1)
    return store.add_result(GenerationResult(request, [GeneratedImage(PIXELS, 1)], "sd-v1.4", "CPU"))[0]


def age_folders(root, seconds=60):
    """As if the last change were a minute ago, so no folder is in its clock's racy window."""
    past = time.time() - seconds
    for folder, _, _ in os.walk(root):
        os.utime(folder, (past, past))


def png(path, text="dropped in\nSteps: 3"):
    info = PngImagePlugin.PngInfo()
    info.add_itxt("parameters", text)
    Image.fromarray(PIXELS).save(path, pnginfo=info)


def test_an_unchanged_history_opens_without_listing_any_folder(tmp_path):
    root = tmp_path / "hist"
    with HistoryStore(root) as store:
        add(store)
    age_folders(root)
    HistoryStore(root).close()  # lists what the save changed
    with HistoryStore(root) as store:
        assert store.last_report.folders_listed == 0
        assert store.count() == 1


def test_a_file_dropped_into_a_known_folder_is_found_at_the_next_open(tmp_path):
    root = tmp_path / "hist"
    with HistoryStore(root) as store:
        record = add(store)
    age_folders(root)
    HistoryStore(root).close()
    png(record.path.parent / "from-elsewhere.png")  # changes that folder's own time
    with HistoryStore(root) as store:
        assert store.last_report.imported == 1 and store.last_report.folders_listed == 1
        assert store.count() == 2


def test_a_file_removed_from_a_known_folder_is_marked_missing_at_the_next_open(tmp_path):
    root = tmp_path / "hist"
    with HistoryStore(root) as store:
        record = add(store)
        add(store, "an owl")
    age_folders(root)
    HistoryStore(root).close()
    record.path.unlink()
    with HistoryStore(root) as store:
        assert store.last_report.marked_missing == 1 and store.count() == 1


def test_a_removed_folder_marks_its_images_missing(tmp_path):
    root = tmp_path / "hist"
    with HistoryStore(root) as store:
        record = add(store)
    (root / "images" / "old").mkdir()
    png(root / "images" / "old" / "a.png")
    HistoryStore(root).close()
    for path in (root / "images" / "old").iterdir():
        path.unlink()
    (root / "images" / "old").rmdir()
    with HistoryStore(root) as store:
        assert store.last_report.marked_missing == 1
        assert [r.id for r in store.page()] == [record.id]


def test_a_folder_changed_within_its_clock_tick_is_listed_again(tmp_path):
    """The folder's time was read in the same tick as the change: trust it only later."""
    root = tmp_path / "hist"
    with HistoryStore(root) as store:
        add(store)
    HistoryStore(root).close()
    with HistoryStore(root) as store:
        assert store.last_report.folders_listed >= 1  # still too recent to pass over


def test_a_skipped_file_is_read_again_once_it_changes(tmp_path):
    root = tmp_path / "hist"
    HistoryStore(root).close()
    target = root / "images" / "copying.png"
    target.write_bytes(b"\x89PNG\r\n\x1a\n half copied")
    with HistoryStore(root) as store:
        assert [name for name, _ in store.skipped()] == ["images/copying.png"]
    age_folders(root)
    HistoryStore(root).close()
    png(target)  # the copy completes: the file changes, its folder's time need not
    age_folders(root)
    with HistoryStore(root) as store:
        assert store.count() == 1 and store.skipped() == []


def test_the_cli_says_how_many_files_were_skipped(tmp_path, capsys):
    root = tmp_path / "hist"
    HistoryStore(root).close()
    (root / "images" / "broken.png").write_bytes(b"not a png")
    assert main.main(["history", "--history-dir", str(root)]) == 0
    err = capsys.readouterr().err
    assert "1 file in the folder is not in the history" in err
    assert main.main(["history", "rebuild", "--history-dir", str(root)]) == 0
    assert "skipped images/broken.png" in capsys.readouterr().err


# --------------------------------------------------------------- unwritable folders

def test_an_images_path_that_is_a_file_is_one_clear_error(tmp_path, capsys):
    root = tmp_path / "hist"
    root.mkdir()
    (root / "images").write_text("oops")
    with pytest.raises(HistoryError, match="is a file, not a folder"):
        HistoryStore(root)
    assert main.main(["history", "--history-dir", str(root)]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


def _refuse_writes(monkeypatch, code, message):
    """The disk as a full or read-only one answers: every write-mode open fails."""
    def refusing(db_path):
        error = sqlite3.OperationalError(message)
        error.sqlite_errorcode = code
        raise error
    monkeypatch.setattr(reconcile_module, "connect", refusing)
    from engine.history import store as store_module
    monkeypatch.setattr(store_module, "connect", refusing)


@pytest.mark.parametrize("code, message", [(13, "database or disk is full"),
                                           (8, "attempt to write a readonly database"),
                                           (14, "unable to open database file")])
def test_a_full_or_read_only_history_can_still_be_browsed(tmp_path, monkeypatch, capsys, code, message):
    root = tmp_path / "hist"
    with HistoryStore(root) as store:
        record = add(store)
        store.set_favorite(record.id, True)
    _refuse_writes(monkeypatch, code, message)
    with HistoryStore(root) as store:
        assert store.read_only and message in store.read_only
        assert [r.id for r in store.page()] == [record.id] and store.get(record.id).favorite
        with pytest.raises(HistoryError, match="Cannot change the history"):
            store.set_favorite(record.id, False)
        with pytest.raises(HistoryError, match="Cannot change the history"):
            add(store)
    assert main.main(["history", "--history-dir", str(root)]) == 0
    assert "a fox" in capsys.readouterr().out


def test_locked_is_still_an_error_not_read_only(tmp_path, monkeypatch):
    root = tmp_path / "hist"
    with HistoryStore(root) as store:
        add(store)
    _refuse_writes(monkeypatch, 5, "database is locked")
    with pytest.raises(HistoryError, match="locked"):
        HistoryStore(root)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="POSIX permissions (root ignores them)")
def test_a_read_only_data_folder_can_be_listed(tmp_path, capsys):
    root = tmp_path / "hist"
    with HistoryStore(root) as store:
        add(store)
    for folder, _, files in os.walk(root):
        for name in files:
            os.chmod(os.path.join(folder, name), 0o444)
        os.chmod(folder, 0o555)
    try:
        assert main.main(["history", "--history-dir", str(root)]) == 0
        assert "a fox" in capsys.readouterr().out
    finally:
        for folder, _, _ in os.walk(root):
            os.chmod(folder, 0o755)


def test_a_journal_that_cannot_be_written_undoes_the_change(tmp_path, monkeypatch):
    root = tmp_path / "hist"
    with HistoryStore(root) as store:
        record = add(store)

        def full(*args, **kwargs):
            raise OSError(28, "No space left on device")
        monkeypatch.setattr(store.marks, "record", full)
        with pytest.raises(HistoryError, match="No space left"):
            store.set_favorite(record.id, True)
        assert not store.get(record.id).favorite
