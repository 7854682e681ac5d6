"""File > Import Weights: a failure or a partial import is an error dialog, not a line of text."""
from __future__ import annotations

import pytest
from PySide6.QtWidgets import QFileDialog, QMessageBox

from engine.models.errors import ImportFolderError
from engine.models.importer import ImportReport
from tests.gui.fakes import FakeEngine, fake_models, fake_services


@pytest.fixture
def demo_window(qtbot, settings, tmp_path, monkeypatch):
    """On the demo model with Stable Diffusion 1.4 missing: the first-run panel is off screen.
    `window.imports` says how each import ends (an exception or a report)."""
    from gui.mainwindow import MainWindow
    monkeypatch.setattr(QFileDialog, "getExistingDirectory",
                        lambda *args, **kwargs: str(tmp_path))
    state = {"installed": False, "outcome": None, "models": []}

    def import_folder(model_id, folder, on_progress, cancel):
        state["models"].append(model_id)
        if isinstance(state["outcome"], Exception):
            raise state["outcome"]
        state["installed"] = state["outcome"].complete
        return state["outcome"]

    services = fake_services(FakeEngine(), None)
    services.models = lambda: fake_models(sd_state="installed" if state["installed"] else "missing")
    services.import_folder = import_folder
    w = MainWindow(services, settings, load_engine_now=False)
    qtbot.addWidget(w)
    w.show()
    w.imports = state
    assert w.form.model_id() == "demo" and w.progress.stack.currentWidget() is not w.first_run
    return w


def error_box(qtbot, window) -> QMessageBox:
    qtbot.waitUntil(lambda: window.findChild(QMessageBox, "errorDialog") is not None, timeout=5000)
    box = window.findChild(QMessageBox, "errorDialog")
    assert box.isVisible() and box.icon() == QMessageBox.Icon.Critical
    return box


def test_a_failed_import_is_an_error_dialog(qtbot, demo_window, tmp_path):
    demo_window.imports["outcome"] = ImportFolderError(f"{tmp_path} is not a folder that can be read.")
    demo_window.menus.actions["import"].trigger()
    box = error_box(qtbot, demo_window)
    assert box.windowTitle() == "Import failed"
    assert box.text().startswith("Stable Diffusion 1.4 could not be imported.")
    assert f"{tmp_path} is not a folder that can be read." in box.text()
    assert demo_window.imports["models"] == ["sd-v1.4"], "the model that needs weights"
    box.accept()
    qtbot.waitUntil(lambda: not demo_window.first_run.busy, timeout=5000)


def test_an_import_that_leaves_files_out_is_an_error_dialog_too(qtbot, demo_window, tmp_path):
    demo_window.imports["outcome"] = ImportReport("sd-v1.4", missing=["kcv_decoder.h5"])
    demo_window.menus.actions["import"].trigger()
    box = error_box(qtbot, demo_window)
    assert box.windowTitle() == "Import incomplete"
    assert "Stable Diffusion 1.4 is not ready" in box.text()
    assert "Not in the folder: kcv_decoder.h5" in box.text()
    box.accept()
    demo_window.model_chooser.select("sd-v1.4")
    assert not demo_window.generation.generate_button.isEnabled()


def test_a_good_import_from_the_menu_says_the_model_is_ready(qtbot, demo_window, tmp_path):
    demo_window.imports["outcome"] = ImportReport("sd-v1.4", imported=[tmp_path / "kcv_encoder.h5"])
    demo_window.menus.actions["import"].trigger()
    qtbot.waitUntil(lambda: "is ready" in demo_window.statusBar().currentMessage(), timeout=5000)
    assert demo_window.statusBar().currentMessage() == "Stable Diffusion 1.4 is ready."
    assert demo_window.findChild(QMessageBox, "errorDialog") is None
    chooser = demo_window.model_chooser.combo
    assert "\u2713" in chooser.itemText(chooser.findData("sd-v1.4"))


def test_a_failed_download_is_an_error_dialog(qtbot, settings):
    from gui.mainwindow import MainWindow

    def download(model_id, on_progress, cancel):
        raise OSError("No space left on device")

    services = fake_services(FakeEngine(), None, models=fake_models(demo=False, sd_state="missing"))
    services.download = download
    w = MainWindow(services, settings, load_engine_now=False)
    qtbot.addWidget(w)
    w.show()
    w.first_run.download_button.click()
    box = error_box(qtbot, w)
    assert box.windowTitle() == "Download failed"
    assert "Stable Diffusion 1.4 could not be downloaded." in box.text()
    assert "No space left on device" in box.text()
    box.accept()
    qtbot.waitUntil(lambda: not w.first_run.busy, timeout=5000)
