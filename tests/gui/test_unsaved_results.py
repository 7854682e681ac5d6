"""When the history cannot keep a finished generation, the window keeps it and says why.

Seen before (issue 13): with a full or read-only history folder the job ended as failed and
its images were gone.
"""
from __future__ import annotations

from engine.history import HistoryError
from engine.pngmeta import read_png_metadata
from tests.gui.test_generation import fill


def test_images_the_history_cannot_keep_stay_and_can_be_saved_elsewhere(
        qtbot, window, history, tmp_path, monkeypatch):
    def disk_full(result, **_):
        raise HistoryError("Cannot change the history: the disk is full.")
    monkeypatch.setattr(history, "add_result", disk_full)
    fill(window, prompt="a red circle", steps=2, seed=5)
    with qtbot.waitSignal(window.progress.job_over, timeout=5000) as over:
        window.generation.generate()
    assert over.args[1] == "finished"
    assert window.banner.isVisible() and window.banner.kind == "error"
    assert "the disk is full" in window.banner.text.text()
    assert len(window.unsaved.results) == 1

    paths = window.unsaved.save(tmp_path / "elsewhere")  # the banner's button asks for a folder
    assert len(paths) == 1 and window.unsaved.results == []
    meta = read_png_metadata(paths[0], verify=True)
    assert meta.request.prompt == "a red circle" and meta.seed == 5


def test_a_folder_that_cannot_be_written_either_keeps_them_and_says_so(
        qtbot, window, history, tmp_path, monkeypatch):
    monkeypatch.setattr(history, "add_result", lambda result, **_: (_ for _ in ()).throw(OSError(28, "full")))
    fill(window, steps=2, seed=1)
    with qtbot.waitSignal(window.progress.job_over, timeout=5000):
        window.generation.generate()
    (tmp_path / "a file").write_text("x")
    assert window.unsaved.save(tmp_path / "a file") == []
    assert len(window.unsaved.results) == 1 and window.banner.kind == "error"
