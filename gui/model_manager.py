"""Tools > Models > Manage Checkpoints: the person's checkpoint files, what each is, and their
choices (name, prediction type, VAE). The engine's library does the work; adding a file
(which hashes gigabytes) runs on a thread of its own, so the window never waits on it."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QDialog, QFileDialog, QHBoxLayout,
                               QHeaderView, QInputDialog, QLabel, QListWidget, QMessageBox,
                               QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout)

from engine.models.errors import human_size
from engine.models.families import BY_ID
from engine.models.library import Checkpoint, LibraryError, checkpoints_dir, library
from gui.desktop import show_in_folder
from gui.tasks import Task, on_own_thread

COLUMNS = ("Name", "Kind", "Predicts", "Size", "Hash", "File")
PREDICTIONS = (("Guess from the file", None), ("epsilon", "epsilon"), ("v", "v"))


def _kind(c: Checkpoint) -> str:
    return BY_ID[c.family].label if c.usable else "cannot be used"


def _predicts(c: Checkpoint) -> str:
    if not c.usable:
        return ""
    return f"{c.prediction} ({'chosen' if c.prediction_set else 'guessed'})"


class ModelManager(QDialog):
    changed = Signal()  # the list of usable models may have changed: the window refreshes its own

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Checkpoints")
        self.setMinimumSize(720, 360)
        self._task: Optional[Task] = None
        self._added_entry: Optional[Checkpoint] = None
        intro = QLabel(f"Checkpoint files (.safetensors, SD 1.x and 2.x) in <b>{checkpoints_dir()}</b> "
                       "are found by themselves; <b>Add…</b> uses a file from anywhere where it lies, "
                       "without copying it.")
        intro.setWordWrap(True)
        intro.setTextFormat(Qt.TextFormat.RichText)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().hide()
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.add_button = QPushButton("Add\u2026")
        self.add_button.clicked.connect(self._choose_file)
        self.rename_button = QPushButton("Rename\u2026")
        self.rename_button.clicked.connect(self._ask_rename)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self.remove_selected)
        self.reveal_button = QPushButton("Show File")
        self.reveal_button.clicked.connect(lambda: self.selected() and show_in_folder(self.selected().path))
        self.prediction = QComboBox()
        for text, value in PREDICTIONS:
            self.prediction.addItem(text, value)
        self.prediction.setToolTip("What the UNet predicts. Most models: epsilon; SD 2.x 768-v "
                                   "models and their fine-tunes: v. Change it if images come out as "
                                   "noise or flat colour.")
        self.prediction.activated.connect(lambda _: self.set_prediction(self.prediction.currentData()))
        self.vae_button = QPushButton("VAE\u2026")
        self.vae_button.setToolTip("Decode with another VAE file; cancel the file dialog to use the "
                                   "checkpoint's own again")
        self.vae_button.clicked.connect(self._choose_vae)
        close = QPushButton("Close")
        close.clicked.connect(self.accept)

        # Folders a person already has (A1111's models/Stable-diffusion, ComfyUI's checkpoints).
        self.folders = QListWidget()
        self.folders.setMaximumHeight(72)
        self.folders.setToolTip("Also scanned for checkpoints, at every start")
        add_folder = QPushButton("Add Folder\u2026")
        add_folder.clicked.connect(self._choose_folder)
        self.remove_folder_button = QPushButton("Remove Folder")
        self.remove_folder_button.clicked.connect(
            lambda: self.folders.currentItem() and self.forget_folder(Path(self.folders.currentItem().text())))
        folder_buttons = QVBoxLayout()
        folder_buttons.addWidget(add_folder)
        folder_buttons.addWidget(self.remove_folder_button)
        folder_buttons.addStretch(1)
        folder_row = QHBoxLayout()
        folder_row.addWidget(QLabel("Also scanned:"))
        folder_row.addWidget(self.folders, 1)
        folder_row.addLayout(folder_buttons)

        buttons = QHBoxLayout()
        for widget in (self.add_button, self.rename_button, self.remove_button, self.reveal_button,
                       QLabel("Predicts:"), self.prediction, self.vae_button):
            buttons.addWidget(widget)
        buttons.addStretch(1)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.message)
        layout.addLayout(buttons)
        layout.addLayout(folder_row)
        self.reload()

    # -- the list ----------------------------------------------------------
    def reload(self, select: Optional[str] = None) -> None:
        library().refresh()
        self.folders.clear()
        self.folders.addItems([str(f) for f in library().saved_folders()])
        self._entries = library().entries()
        self.table.setRowCount(len(self._entries))
        for row, c in enumerate(self._entries):
            cells = (c.name, _kind(c), _predicts(c), human_size(c.size), c.short_hash or "",
                     str(c.path) if c.usable else f"{c.problem}: {c.path}")
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.table.setItem(row, column, item)
            if c.name == select:
                self.table.selectRow(row)
        self._selection_changed()

    def selected(self) -> Optional[Checkpoint]:
        rows = self.table.selectionModel().selectedRows()
        return self._entries[rows[0].row()] if rows else None

    def select(self, name: str) -> None:
        for row, c in enumerate(self._entries):
            if c.name == name:
                self.table.selectRow(row)

    def _selection_changed(self) -> None:
        c = self.selected()
        for widget in (self.rename_button, self.reveal_button):
            widget.setEnabled(c is not None)
        self.remove_button.setEnabled(c is not None and c.added)
        self.remove_button.setToolTip("" if c is None or c.added else
                                      "Found in a folder: move the file out of it to stop using it.")
        for widget in (self.prediction, self.vae_button):
            widget.setEnabled(c is not None and c.usable)
        if c is not None and c.usable:
            self.prediction.setCurrentIndex(1 + ("epsilon", "v").index(c.prediction)
                                            if c.prediction_set else 0)

    # -- actions (each says what went wrong under the list; none raises) ---
    def _do(self, action, *args) -> Optional[Checkpoint]:
        try:
            result = action(*args)
        except (LibraryError, OSError) as error:
            self.message.setText(str(error))
            return None
        self.message.setText("")
        self.reload(select=result.name if isinstance(result, Checkpoint) else None)
        self.changed.emit()
        return result

    def _choose_file(self) -> None:
        chosen, _ = QFileDialog.getOpenFileName(self, "Add a checkpoint", str(Path.home()),
                                                "Checkpoints (*.safetensors);;All files (*)")
        if chosen:
            self.add_file(Path(chosen))

    def add_file(self, path: Path) -> None:
        """Registers and hashes the file on its own thread; the list updates when done."""
        self.add_button.setEnabled(False)
        self.message.setText(f"Adding {path.name}: reading its hash\u2026")
        self._task = task = Task()
        task.finished.connect(self._added)
        task.failed.connect(self.message.setText)
        # Busy until the thread itself has ended, not just its work: whoever waits for
        # `changed` (a test, the window) may then rely on nothing still running.
        on_own_thread(task, "add checkpoint", lambda progress, cancel: library().add(path),
                      ended=self._add_over)

    def _added(self, entry: Checkpoint) -> None:
        self.message.setText(f"Added {entry.name} ({_kind(entry)}, predicts {entry.prediction}).")
        self.reload(select=entry.name)
        self._added_entry = entry

    def _add_over(self) -> None:
        self.add_button.setEnabled(True)
        if self._added_entry is not None:
            self._added_entry = None
            self.changed.emit()

    def busy(self) -> bool:
        return not self.add_button.isEnabled()

    def _choose_folder(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "A folder of checkpoints", str(Path.home()))
        if chosen:
            self.keep_folder(Path(chosen))

    def keep_folder(self, folder: Path) -> None:
        self._do(library().save_folder, folder)

    def forget_folder(self, folder: Path) -> None:
        self._do(library().save_folder, folder, False)

    def _ask_rename(self) -> None:
        c = self.selected()
        if c is None:
            return
        name, ok = QInputDialog.getText(self, "Rename", f"New name for {c.name}:", text=c.name)
        if ok and name != c.name:
            self.rename_selected(name)

    def rename_selected(self, name: str) -> None:
        c = self.selected()
        if c is not None:
            self._do(library().rename, c.name, name)

    def remove_selected(self) -> None:
        c = self.selected()
        if c is not None and self._do(library().remove, c.name) is not None:
            self.message.setText(f"Removed {c.name}; the file is still at {c.path}.")

    def set_prediction(self, prediction: Optional[str]) -> None:
        c = self.selected()
        if c is not None:
            self._do(library().set_prediction, c.name, prediction)

    def _choose_vae(self) -> None:
        c = self.selected()
        if c is None:
            return
        chosen, _ = QFileDialog.getOpenFileName(self, f"A VAE for {c.name}", str(c.path.parent),
                                                "VAE files (*.safetensors)")
        self.set_vae(Path(chosen) if chosen else None)

    def set_vae(self, path: Optional[Path]) -> None:
        c = self.selected()
        if c is not None:
            self._do(library().set_vae, c.name, path)

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        if self.busy():
            QMessageBox.information(self, "Checkpoints", "A file is still being added; close "
                                    "this window once it is done.")
            event.ignore()
            return
        super().closeEvent(event)
