"""Edit > Preferences: default model, preview, theme and folders, and the compute backend."""
import re

import pytest
from PySide6.QtGui import QKeySequence, QPalette
from PySide6.QtWidgets import QApplication, QLabel

from engine import preferences
from engine.compute import selection
from engine import locations
from engine.settings_file import read_settings, settings_path
from gui.preferences import RESTART_NOTE, PreferencesDialog, compute_status
from tests.gui.fakes import fake_models


@pytest.fixture(autouse=True)
def own_settings(monkeypatch, tmp_path):
    """A settings file of this test's own, and no folder setting left for the next test."""
    monkeypatch.setenv(locations.DATA_DIR_ENV, str(tmp_path / "data"))
    yield tmp_path / "data"
    locations.set_data_dir_setting(None)
    locations.set_models_dir_setting(None)


def dialog(qtbot, saved=None, **options):
    options.setdefault("installed", ["tensorflow", "jax"])
    options.setdefault("preference", None)
    options.setdefault("in_use", selection.Choice("tensorflow", "default", "default: fastest"))
    options.setdefault("models", fake_models())
    calls = saved if saved is not None else []
    d = PreferencesDialog(save=lambda name: calls.append(name), **options)
    qtbot.addWidget(d)
    return d


def test_uninstalled_backends_are_disabled_with_their_install_command(qtbot):
    d = dialog(qtbot)
    assert d.buttons["tensorflow"].isEnabled() and d.buttons["jax"].isEnabled()
    torch = d.buttons["torch"]
    assert not torch.isEnabled()
    assert '".[torch]"' in torch.toolTip()
    hints = [label.text() for label in d.findChildren(QLabel, "hint")]
    assert hints == [selection.install_hint("torch")]


def test_it_says_what_runs_now_and_that_a_change_needs_a_restart(qtbot):
    d = dialog(qtbot)
    assert d.buttons[""].isChecked()  # no preference: automatic
    assert "In use now: TensorFlow (default: fastest)." in d.note.text()
    assert RESTART_NOTE in d.note.text()
    assert "environment" not in d.note.text()


def test_choosing_a_backend_saves_it_and_automatic_clears_it(qtbot):
    saved = []
    d = dialog(qtbot, saved)
    d.buttons["jax"].click()
    assert d.chosen() == "jax"
    d.accept()
    d2 = dialog(qtbot, saved, preference="jax")
    assert d2.buttons["jax"].isChecked()
    d2.buttons[""].click()
    d2.accept()
    assert saved == ["jax", None]


def test_ok_without_a_change_writes_nothing(qtbot):
    saved = []
    dialog(qtbot, saved, preference="jax").accept()
    dialog(qtbot, saved, preference=None).accept()
    assert saved == []


def test_a_saved_backend_since_uninstalled_falls_back_to_automatic_and_says_so(qtbot):
    d = dialog(qtbot, preference="torch")
    assert d.buttons[""].isChecked()
    assert "The saved choice, PyTorch, is not installed" in d.note.text()


def test_the_environment_variable_is_said_to_win(qtbot):
    d = dialog(qtbot, in_use=selection.Choice("jax", "KERAS_BACKEND", "KERAS_BACKEND=jax in the environment"))
    assert "KERAS_BACKEND is set in the environment: it wins over this setting." in d.note.text()


def test_a_failed_save_keeps_the_dialog_open(qtbot, monkeypatch):
    from gui import preferences
    warned = []
    monkeypatch.setattr(preferences.QMessageBox, "warning", lambda *args: warned.append(args[2]))

    def unwritable(name):
        raise PermissionError("read-only folder")

    d = PreferencesDialog(installed=["tensorflow", "jax"], preference=None, in_use=None,
                          save=unwritable, models=fake_models())
    qtbot.addWidget(d)
    d.show()
    d.buttons["jax"].click()
    d.accept()
    assert d.isVisible() and "read-only folder" in warned[0]


def test_the_real_defaults_save_into_the_data_folder(qtbot):
    d = PreferencesDialog(installed=["tensorflow", "jax"], models=fake_models())
    qtbot.addWidget(d)
    try:
        d.buttons["jax"].click()
        d.accept()
        assert selection.read_preference() == "jax"
    finally:
        selection.save_preference(None)


def test_edit_preferences_opens_with_ctrl_comma(qtbot, window):
    menus = [action.text() for action in window.menuBar().actions()]
    assert menus == ["&File", "&Edit", "&View", "&Tools", "&Help"]
    action = window.menus.actions["preferences"]
    assert action in window.menuBar().actions()[1].menu().actions()
    assert action.text() == "Preferences\u2026"
    assert QKeySequence("Ctrl+,") in action.shortcuts()
    action.trigger()
    qtbot.waitUntil(lambda: window.menus.preferences_dialog is not None
                    and window.menus.preferences_dialog.isVisible())
    assert isinstance(window.menus.preferences_dialog, PreferencesDialog)
    window.menus.preferences_dialog.reject()


def test_the_status_bar_shows_backend_and_device(window):
    assert window.engine_status.text() == "Engine ready \u00b7 JAX \u00b7 Fake device"
    assert compute_status("torch", "GPU: NVIDIA H200") == "PyTorch \u00b7 GPU: NVIDIA H200"
    assert compute_status(None, "CPU") == "CPU"


# ---- general: default model, preview, theme ---------------------------------------------

def test_a_fresh_dialog_shows_the_defaults(qtbot, own_settings):
    d = dialog(qtbot)
    assert d.default_model.currentText().startswith("Automatic")
    assert [d.default_model.itemText(i) for i in range(1, d.default_model.count())] == [
        "Stable Diffusion 1.4", "Demo (built-in)"]
    assert d.preview.isChecked()
    assert d.theme.currentData() == "system" and d.theme.currentText() == "System (follows the OS)"
    assert d.data_dir.value() == "" and d.models_dir.value() == ""
    assert str(locations.platform_data_dir()) in d.data_dir.edit.placeholderText()
    d.accept()
    assert not settings_path().exists(), "OK with nothing changed writes nothing"


def test_a_model_without_weights_is_offered_as_not_installed(qtbot):
    d = dialog(qtbot, models=fake_models(sd_state="missing"))
    assert d.default_model.itemText(1) == "Stable Diffusion 1.4 (not installed)"


def test_general_choices_are_saved_and_shown_again(qtbot, restore_theme):
    d = dialog(qtbot)
    d.default_model.setCurrentIndex(d.default_model.findData("demo"))
    d.preview.setChecked(False)
    d.theme.setCurrentIndex(d.theme.findData("light"))
    d.accept()
    assert preferences.default_model() == "demo"
    assert not preferences.preview_enabled()
    assert preferences.theme() == "light"
    again = dialog(qtbot)
    assert again.default_model.currentData() == "demo"
    assert not again.preview.isChecked() and again.theme.currentData() == "light"


def _window_colour(app):
    return app.palette().color(QPalette.ColorRole.Window)


def test_the_theme_applies_at_once_to_the_open_window(qtbot, window, restore_theme):
    from gui import theme
    theme.apply_theme("dark")
    assert _window_colour(restore_theme).lightness() < 80
    d = dialog(qtbot)
    d.theme.setCurrentIndex(d.theme.findData("light"))
    d.accept()
    assert _window_colour(restore_theme).lightness() > 200
    assert theme.COLOURS["light"]["window"] in restore_theme.styleSheet()
    # what a person sees: the window itself is drawn light, with dark text
    shot = window.grab().toImage()
    assert shot.pixelColor(shot.width() // 2, shot.height() - 3).lightness() > 200
    assert window.progress.phase.palette().color(QPalette.ColorRole.WindowText).lightness() < 80
    again = dialog(qtbot)
    again.theme.setCurrentIndex(again.theme.findData("dark"))
    again.accept()
    assert _window_colour(restore_theme).lightness() < 80
    shot = window.grab().toImage()
    assert shot.pixelColor(shot.width() // 2, shot.height() - 3).lightness() < 80


def test_system_follows_the_os_and_its_changes(qtbot, monkeypatch, restore_theme):
    from gui import theme
    os_scheme = ["light"]
    monkeypatch.setattr(theme, "system_scheme", lambda: os_scheme[0])
    assert theme.apply_theme("system") == "light"
    assert _window_colour(restore_theme).lightness() > 200
    os_scheme[0] = "dark"
    from PySide6.QtCore import Qt
    QApplication.styleHints().colorSchemeChanged.emit(Qt.ColorScheme.Dark)
    assert _window_colour(restore_theme).lightness() < 80
    theme.apply_theme("light")  # a fixed choice no longer follows the OS
    QApplication.styleHints().colorSchemeChanged.emit(Qt.ColorScheme.Dark)
    assert _window_colour(restore_theme).lightness() > 200


def test_every_colour_word_in_the_stylesheet_is_filled_in_both_themes():
    from gui import theme
    for scheme in theme.COLOURS:
        sheet = theme.stylesheet(scheme)
        assert sheet and not re.findall(r"@\w+@", sheet), scheme


# ---- folders ------------------------------------------------------------------------------

def test_a_folder_is_saved_for_the_next_start_and_the_dialog_says_so(qtbot, tmp_path):
    d = dialog(qtbot)
    assert RESTART_NOTE in d.folders_note.text()
    in_use = locations.app_data_dir()
    d.data_dir.edit.setText(str(tmp_path / "elsewhere"))
    d.models_dir.edit.setText(str(tmp_path / "weights"))
    d.accept()
    assert preferences.folder(preferences.DATA_DIR) == tmp_path / "elsewhere"
    assert preferences.folder(preferences.MODELS_DIR) == tmp_path / "weights"
    assert (tmp_path / "elsewhere").is_dir() and (tmp_path / "weights").is_dir()
    assert locations.app_data_dir() == in_use, "folders change only on restart"
    again = dialog(qtbot)
    assert again.data_dir.value() == str(tmp_path / "elsewhere")
    again.data_dir.edit.clear()  # back to the default
    again.accept()
    assert preferences.folder(preferences.DATA_DIR) is None


def test_a_folder_that_cannot_be_made_is_named_and_nothing_is_saved(qtbot, monkeypatch, tmp_path):
    from gui import preferences as dialog_module
    warned = []
    monkeypatch.setattr(dialog_module.QMessageBox, "warning",
                        lambda parent, title, text: warned.append((title, text)))
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    d = dialog(qtbot)
    d.show()
    d.preview.setChecked(False)
    d.models_dir.edit.setText(str(blocker / "models"))
    d.accept()
    assert d.isVisible(), "the dialog stays open to fix it"
    assert warned[0][0] == "Preferences not saved"
    assert warned[0][1].startswith(f"The models folder {blocker / 'models'} cannot be used: ")
    assert read_settings() == {} and preferences.preview_enabled()
    d.models_dir.edit.setText("relative/folder")
    d.accept()
    assert "must be a full path" in warned[1][1] and d.isVisible()


def test_the_environment_variable_is_said_to_win_over_a_folder(qtbot, own_settings):
    d = dialog(qtbot)
    assert "SD_DESK_DATA_DIR is set in the environment: it wins over this setting." \
        in d.data_dir.note.text()
    assert f"In use now: {own_settings}" in d.data_dir.note.text()
    assert "SD_DESK_MODELS_DIR is set in the environment" in d.models_dir.note.text()


# ---- what the window does with them ---------------------------------------------------------

def test_preview_off_means_requests_without_previews_from_the_next_generation(qtbot, window, engine):
    from engine.jobs import JobProgress
    window.form.prompt.setPlainText("a red circle on a blue background")
    window.form.steps.setValue(3)
    window.form.set_size(128, 128)
    seen = []
    window.worker.event.connect(lambda event, images: isinstance(event, JobProgress)
                                and event.phase == "denoising" and seen.append(bool(images)))
    with qtbot.waitSignal(window.progress.job_over, timeout=5000):
        window.generation.generate()
    assert engine.requests[-1].preview is True and seen == [True] * 3
    d = dialog(qtbot)
    d.preview.setChecked(False)
    d.accept()  # the open window asks the preference; nothing to restart or refill
    seen.clear()
    with qtbot.waitSignal(window.progress.job_over, timeout=5000):
        window.generation.generate()
    assert engine.requests[-1].preview is False and seen == [False] * 3
    assert window.progress.phase.text().startswith("Done: 1 image")


def test_a_default_model_is_what_the_window_starts_on(qtbot, services, settings):
    from gui.mainwindow import MainWindow
    first = MainWindow(services, settings, load_engine_now=False)
    qtbot.addWidget(first)
    assert first.form.model_id() == "sd-v1.4"
    first.model_chooser.select("sd-v1.4")
    first.save_settings()  # the form remembers the model it last used
    preferences.save(default_model="demo")
    second = MainWindow(services, settings, load_engine_now=False)
    qtbot.addWidget(second)
    assert second.form.model_id() == "demo"
