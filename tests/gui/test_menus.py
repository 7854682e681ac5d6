"""Menus, shortcuts, help, and a first start that says what the demo model is."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence

from engine.demo.text import vocabulary_problem
from engine.examples import examples_for


def test_every_menu_action_shows_its_usual_shortcut(window):
    expected = {"open": QKeySequence.StandardKey.Open, "undo": QKeySequence.StandardKey.Undo,
                "find": QKeySequence.StandardKey.Find, "shortcuts": QKeySequence.StandardKey.HelpContents}
    for name, key in expected.items():
        assert window.menus.actions[name].shortcut() == QKeySequence(key), name
    for name, keys in (("quit", "Ctrl+Q"), ("preferences", "Ctrl+,"), ("full_screen", "F11")):
        assert window.menus.actions[name].shortcut() == QKeySequence(keys), name


def test_ctrl_f_goes_to_the_search_box(qtbot, window):
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=3000)
    qtbot.keyClick(window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(window.gallery.search.hasFocus, timeout=3000)


def test_help_lists_the_shortcuts_the_demo_words_and_the_versions(qtbot, window):
    window.menus.actions["shortcuts"].trigger()
    assert "Ctrl+Q" in window.help.dialog.text() and "Generate" in window.help.dialog.text()
    window.help.dialog.close()
    window.menus.actions["demo_words"].trigger()
    assert "triangle" in window.help.dialog.text() and "centre" in window.help.dialog.text()
    window.help.dialog.close()
    window.menus.actions["about"].trigger()
    text = window.help.dialog.text()
    assert "Fake device" in text and "keras" in text.lower()
    window.help.dialog.close()


def test_the_demo_model_says_what_it_is_and_its_placeholder_is_one_it_draws(qtbot, window):
    window.model_chooser.select("demo")
    assert window.generation.model_note.isVisible()
    assert "Stable Diffusion" in window.generation.model_note.text.text()
    assert "reads none of A1111's prompt language" in window.generation.model_note.text.text()
    demo_example = examples_for("demo").prompt
    assert demo_example in window.form.prompt.placeholderText()
    assert vocabulary_problem(demo_example) is None  # the example is one the demo accepts
    window.generation.model_note.words_button.click()
    assert "circle" in window.help.dialog.text()
    window.help.dialog.close()

    window.model_chooser.select("sd-v1.4")
    assert not window.generation.model_note.isVisible()
    assert "lighthouse" in window.form.prompt.placeholderText()
    assert "blurry" in window.form.negative.placeholderText()


def test_tools_models_lists_each_model_and_chooses_one(qtbot, window):
    from PySide6.QtWidgets import QMenu
    menu = QMenu()
    window.model_chooser.fill_menu(menu)
    labels = [a.text() for a in menu.actions()]
    assert len(labels) == len(window.model_chooser.models()) >= 2
    target = next(a for a in menu.actions() if not a.isChecked())
    target.trigger()
    assert next(a for a in menu.actions() if a is target).text().startswith(window.model_chooser.chosen().label)


def test_file_quit_closes_the_window(qtbot, window):
    window.menus.actions["quit"].trigger()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5000)
