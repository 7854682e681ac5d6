"""The window's menu bar: File, Edit, View, Tools, Help, with the usual shortcuts."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog

from gui import help_dialogs
from gui.folders import remember_folder, start_folder
from gui.preferences import open_preferences

if TYPE_CHECKING:
    from gui.mainwindow import MainWindow

Key = QKeySequence.StandardKey


def build_menus(window: "MainWindow") -> dict[str, QAction]:
    """Returns the actions by name, for tests and for enabling them as the window changes."""
    bar = window.menuBar()
    actions: dict[str, QAction] = {}

    def add(menu, name: str, text: str, slot, shortcut=None) -> QAction:
        action = menu.addAction(text, slot)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        actions[name] = action
        return action

    file = bar.addMenu("&File")
    add(file, "open", "&Open Image\u2026", lambda: open_image(window), Key.Open)
    add(file, "import", "&Import Weights\u2026", lambda: window.import_weights())
    add(file, "export", "&Export Selected\u2026", lambda: window.export_entries(window.selected_entries()))
    file.addSeparator()
    quit_action = add(file, "quit", "&Quit", window.close, "Ctrl+Q")
    quit_action.setMenuRole(QAction.MenuRole.QuitRole)

    edit = bar.addMenu("&Edit")
    add(edit, "undo", "&Undo Delete", window.undo_delete, Key.Undo)
    add(edit, "copy", "&Copy Image", window._copy_selected_image)
    add(edit, "select_all", "Select &All Images", window.gallery_view.selectAll)
    add(edit, "find", "&Find\u2026", lambda: (window.search.setFocus(), window.search.selectAll()), Key.Find)
    edit.addSeparator()
    preferences = add(edit, "preferences", "Preferences\u2026", lambda: open_preferences(window), "Ctrl+,")
    preferences.setMenuRole(QAction.MenuRole.PreferencesRole)  # macOS moves it to the app menu

    view = bar.addMenu("&View")
    for name, text, pane in (("show_form", "&Form", window.splitter.widget(0)),
                             ("show_gallery", "&Gallery", window.splitter.widget(2)),
                             ("show_queue", "&Queue", window.queue_panel)):
        action = add(view, name, text, lambda on, p=pane: p.setVisible(on))
        action.setCheckable(True)
        action.setChecked(True)
    view.addSeparator()
    full = add(view, "full_screen", "F&ull Screen",
               lambda on: window.showFullScreen() if on else window.showNormal(), "F11")
    full.setCheckable(True)

    tools = bar.addMenu("&Tools")
    add(tools, "batch", "Batch / X-Y &Plot\u2026", window.open_batch)
    add(tools, "benchmark", "&Benchmark\u2026", window.open_benchmark)
    models = tools.addMenu("&Models")
    models.aboutToShow.connect(lambda: fill_models_menu(window, models))
    add(tools, "checkpoints", "Manage &Checkpoints\u2026", window.open_model_manager)

    help_menu = bar.addMenu("&Help")
    add(help_menu, "shortcuts", "&Keyboard Shortcuts", lambda: help_dialogs.show_shortcuts(window),
        Key.HelpContents)
    add(help_menu, "demo_words", "Words the &Demo Model Knows", lambda: help_dialogs.show_demo_words(window))
    about = add(help_menu, "about", "&About SD Desk", lambda: help_dialogs.show_about(window))
    about.setMenuRole(QAction.MenuRole.AboutRole)
    return actions


def fill_models_menu(window: "MainWindow", menu) -> None:
    """Each model with its state; choosing one selects it, and a missing one shows where
    to download or import it."""
    menu.clear()
    for info in window.models():
        state = "ready" if info.usable else info.state
        action = menu.addAction(f"{info.label} ({state})",
                                lambda model_id=info.id: window.form.select_model(model_id))
        action.setCheckable(True)
        action.setChecked(info.id == window.form.model_id())


def open_image(window: "MainWindow") -> None:
    """As a drop on the window: a PNG with a recipe asks whether to load it or start from
    the image; any other image becomes the source."""
    from gui.source_panel import IMAGE_FILTER
    chosen, _ = QFileDialog.getOpenFileName(window, "Open an image", start_folder(window.settings),
                                            IMAGE_FILTER)
    if chosen:
        remember_folder(window.settings, Path(chosen).parent)
        window.dropped_image(Path(chosen))
