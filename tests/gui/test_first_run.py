"""The first-run panel, for a chosen model without weights: download them, import a folder,
or try the demo. File > Import Weights goes through it: a failure or a partial import is an
error dialog, not a line of text."""
from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox

from engine.models.errors import ImportFolderError
from engine.models.importer import ImportReport
from gui.mainwindow import MainWindow
from tests.gui.fakes import FakeEngine, FakeHistory, fake_models, fake_services


@pytest.fixture
def demo_window(qtbot, settings, tmp_path, monkeypatch):
    """On the demo model with Stable Diffusion 1.4 missing: the first-run panel is off screen.
    `window.imports` says how each import ends (an exception or a report)."""
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


def test_model_without_weights_shows_first_run_panel(qtbot, tmp_path, settings):
    engine = FakeEngine()
    models = fake_models(demo=True, sd_state="missing")
    w = MainWindow(fake_services(engine, FakeHistory(tmp_path / "h"), models), settings)
    qtbot.addWidget(w)
    w.show()
    try:
        # With no Stable Diffusion weights, the demo is the default choice.
        assert w.form.model_id() == "demo"
        assert w.progress.stack.currentWidget() is w.progress.preview
        w.form.prompt.setPlainText("a red circle")
        w.model_chooser.select("sd-v1.4")
        assert w.progress.stack.currentWidget() is w.first_run
        assert "not installed" in w.model_chooser.combo.currentText()
        assert "needs its weights" in w.first_run.title.text()
        assert not w.generation.generate_button.isEnabled()
        assert "no weights" in w.generation.why_disabled.text()
        qtbot.mouseClick(w.first_run.demo_button, Qt.MouseButton.LeftButton)
        assert w.form.model_id() == "demo"
        assert w.progress.stack.currentWidget() is w.progress.preview
        assert w.generation.generate_button.isEnabled()
    finally:
        w.close()


def _window_without_weights(qtbot, settings, services, state):
    """A shown window on a build with no demo model, whose Stable Diffusion weights
    count as installed once `state["installed"]` is set."""
    services.models = lambda: fake_models(demo=False,
                                          sd_state="installed" if state["installed"] else "missing")
    w = MainWindow(services, settings)
    qtbot.addWidget(w)
    w.show()
    return w


def test_first_run_download_reports_progress_and_can_be_cancelled(qtbot, tmp_path, settings):
    from engine.models.download import DownloadProgress, DownloadResult
    state = {"installed": False}
    started = threading.Event()

    def download(model_id, on_progress, cancel):
        for i in range(1, 1000):
            on_progress(DownloadProgress("kcv_diffusion_model.h5", 1, 3, i * 1000, 10**6,
                                         2e6, 3.0, i * 1000, 10**6))
            started.set()
            if cancel.cancelled:
                return DownloadResult(model_id, cancelled=True)
            cancel._event.wait(0.01)
        state["installed"] = True
        return DownloadResult(model_id)

    services = fake_services(FakeEngine(), None)
    services.download = download
    w = _window_without_weights(qtbot, settings, services, state)
    try:
        assert w.progress.stack.currentWidget() is w.first_run
        assert not w.first_run.demo_button.isVisible()  # no demo model in this build
        qtbot.mouseClick(w.first_run.download_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: "MB/s" in w.first_run.status.text(), timeout=5000)
        assert w.first_run.cancel_button.isVisible() and w.first_run.bar.isVisible()
        qtbot.mouseClick(w.first_run.cancel_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: "cancelled" in w.first_run.status.text(), timeout=5000)
        qtbot.waitUntil(lambda: w.first_run.download_button.isEnabled(), timeout=5000)
        assert w.progress.stack.currentWidget() is w.first_run
    finally:
        w.close()


def test_first_run_import_checks_off_the_gui_thread_then_unlocks_generate(qtbot, tmp_path, settings):
    from engine.models.importer import ImportReport
    from gui.services import ImportProgress
    state = {"installed": False, "threads": set()}

    def import_folder(model_id, folder, on_progress, cancel):
        state["threads"].add(threading.get_ident())
        on_progress(ImportProgress("kcv_encoder.h5", 50, 100))
        state["installed"] = True
        return ImportReport(model_id, imported=[folder / "kcv_encoder.h5"])

    services = fake_services(FakeEngine(), None)
    services.import_folder = import_folder
    w = _window_without_weights(qtbot, settings, services, state)
    try:
        w.form.prompt.setPlainText("a cat")
        assert not w.generation.generate_button.isEnabled()
        w.first_run.start_import(tmp_path)
        qtbot.waitUntil(lambda: w.progress.stack.currentWidget() is w.progress.preview, timeout=5000)
        assert "1 file(s) imported" in w.first_run.status.text()
        assert threading.get_ident() not in state["threads"]
        assert w.generation.generate_button.isEnabled()
        assert "\u2713" in w.model_chooser.combo.currentText()
    finally:
        w.close()
