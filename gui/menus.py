"""The window's menu bar: File, Edit, View, Tools, Help, with the usual shortcuts. Each
item is an action of one of the window's parts; the two dialogs only the menus open
(Preferences, Benchmark) are kept here."""
from __future__ import annotations

from typing import Optional

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow

from gui.batch_run import Batches
from gui.first_run import FirstRunPanel
from gui.gallery_panel import GalleryPanel
from gui.generation_panel import GenerationPanel
from gui.help_dialogs import HelpDialogs
from gui.image_drops import ImageDrops
from gui.model_chooser import ModelChooser
from gui.preferences import PreferencesDialog, open_preferences
from gui.queue_panel import QueuePanel

Key = QKeySequence.StandardKey


class Menus:
    def __init__(self, window: QMainWindow, *, generation: GenerationPanel, models: ModelChooser,
                 first_run: FirstRunPanel, gallery: GalleryPanel, queue: QueuePanel,
                 drops: ImageDrops, batches: Batches, help_dialogs: HelpDialogs, worker) -> None:
        """`worker`: the gui.worker.GenerationWorker the benchmark runs on."""
        self.window = window
        self.models = models
        self.worker = worker
        self.preferences_dialog: Optional[PreferencesDialog] = None
        self.benchmark_dialog = None  # gui.benchmark_dialog.BenchmarkDialog, once opened
        # By name, for tests and for enabling them as the window changes.
        self.actions: dict[str, QAction] = {}
        bar = window.menuBar()

        file = bar.addMenu("&File")
        self._add(file, "open", "&Open Image\u2026", drops.open_image, Key.Open)
        self._add(file, "import", "&Import Weights\u2026", first_run.import_weights)
        self._add(file, "export", "&Export Selected\u2026",
                  lambda: gallery.export_entries(gallery.selected_entries()))
        file.addSeparator()
        quit_action = self._add(file, "quit", "&Quit", window.close, "Ctrl+Q")
        quit_action.setMenuRole(QAction.MenuRole.QuitRole)

        edit = bar.addMenu("&Edit")
        self._add(edit, "undo", "&Undo Delete", gallery.undo_delete, Key.Undo)
        self._add(edit, "copy", "&Copy Image", gallery.copy_selected_image)
        self._add(edit, "select_all", "Select &All Images", gallery.view.selectAll)
        self._add(edit, "find", "&Find\u2026", gallery.focus_search, Key.Find)
        edit.addSeparator()
        preferences = self._add(edit, "preferences", "Preferences\u2026", self.open_preferences, "Ctrl+,")
        preferences.setMenuRole(QAction.MenuRole.PreferencesRole)  # macOS moves it to the app menu

        view = bar.addMenu("&View")
        for name, text, pane in (("show_form", "&Form", generation), ("show_gallery", "&Gallery", gallery),
                                 ("show_queue", "&Queue", queue)):
            action = self._add(view, name, text, lambda on, p=pane: p.setVisible(on))
            action.setCheckable(True)
            action.setChecked(True)
        view.addSeparator()
        full = self._add(view, "full_screen", "F&ull Screen",
                         lambda on: window.showFullScreen() if on else window.showNormal(), "F11")
        full.setCheckable(True)

        tools = bar.addMenu("&Tools")
        self._add(tools, "batch", "Batch / X-Y &Plot\u2026", batches.open)
        self._add(tools, "benchmark", "&Benchmark\u2026", self.open_benchmark)
        models_menu = tools.addMenu("&Models")
        models_menu.aboutToShow.connect(lambda: models.fill_menu(models_menu))
        self._add(tools, "checkpoints", "Manage &Checkpoints\u2026", models.open_manager)

        help_menu = bar.addMenu("&Help")
        self._add(help_menu, "shortcuts", "&Keyboard Shortcuts", help_dialogs.show_shortcuts, Key.HelpContents)
        self._add(help_menu, "demo_words", "Words the &Demo Model Knows", help_dialogs.show_demo_words)
        about = self._add(help_menu, "about", "&About SD Desk", help_dialogs.show_about)
        about.setMenuRole(QAction.MenuRole.AboutRole)

    def _add(self, menu, name: str, text: str, slot, shortcut=None) -> QAction:
        action = menu.addAction(text, slot)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        self.actions[name] = action
        return action

    def open_preferences(self) -> None:
        self.preferences_dialog = open_preferences(self.window, self.models.models(), self.preferences_dialog)

    def open_benchmark(self) -> None:
        from gui.benchmark_dialog import BenchmarkDialog
        # One dialog for the window's life: its task object may still be on the worker thread.
        if self.benchmark_dialog is None:
            self.benchmark_dialog = BenchmarkDialog(self.worker, self.models.models(), self.window,
                                                    preferred=self.models.model_id())
        self.benchmark_dialog.show()
        self.benchmark_dialog.raise_()
