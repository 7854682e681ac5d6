"""Edit > Preferences: the compute backend, saved for the next start."""
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QLabel

from engine.compute import selection
from gui.preferences import RESTART_NOTE, PreferencesDialog, compute_status


def dialog(qtbot, saved=None, **options):
    options.setdefault("installed", ["tensorflow", "jax"])
    options.setdefault("preference", None)
    options.setdefault("in_use", selection.Choice("tensorflow", "default", "default: fastest"))
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

    d = PreferencesDialog(installed=["tensorflow", "jax"], preference=None, in_use=None, save=unwritable)
    qtbot.addWidget(d)
    d.show()
    d.buttons["jax"].click()
    d.accept()
    assert d.isVisible() and "read-only folder" in warned[0]


def test_the_real_defaults_save_into_the_data_folder(qtbot):
    d = PreferencesDialog(installed=["tensorflow", "jax"])
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
    action = window.menu_actions["preferences"]
    assert action in window.menuBar().actions()[1].menu().actions()
    assert action.text() == "Preferences\u2026"
    assert QKeySequence("Ctrl+,") in action.shortcuts()
    action.trigger()
    qtbot.waitUntil(lambda: getattr(window, "preferences_dialog", None) is not None
                    and window.preferences_dialog.isVisible())
    assert isinstance(window.preferences_dialog, PreferencesDialog)
    window.preferences_dialog.reject()


def test_the_status_bar_shows_backend_and_device(window):
    assert window.device_label.text() == "Engine ready \u00b7 JAX \u00b7 Fake device"
    assert compute_status("torch", "GPU: NVIDIA H200") == "PyTorch \u00b7 GPU: NVIDIA H200"
    assert compute_status(None, "CPU") == "CPU"
