"""LoRA… and Embedding…: a small searchable list of the person's files, one of which goes
into the prompt at its cursor, as A1111's extra-network cards put it there.

The files are listed on a thread of their own (engine.models.extra_networks scans
folders, which may be slow on a network drive); an empty list says where to put them.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (QDialog, QFileDialog, QHBoxLayout, QHeaderView, QLabel, QLineEdit,
                               QPlainTextEdit, QPushButton, QToolButton, QTreeWidget,
                               QTreeWidgetItem, QVBoxLayout, QWidget)

from gui import desktop
from gui.newest_work import NewestWork


@dataclass(frozen=True)
class Kind:
    button: str
    title: str
    plural: str  # "LoRA files", in sentences
    tip: str
    tag: Callable[[str], str]  # a file's name -> what goes into the prompt


KINDS = {
    "lora": Kind("LoRA\u2026", "Insert a LoRA", "LoRA files",
                 "Insert a LoRA file at the cursor, as <lora:NAME:1> (the number is its strength).",
                 lambda name: f"<lora:{name}:1>"),
    "embedding": Kind("Embedding\u2026", "Insert an embedding", "embeddings",
                      "Insert a textual-inversion embedding at the cursor, by its name.",
                      lambda name: name),
}
NAME, FOLDER = 0, 1


class EngineNetworks:
    """engine.models.extra_networks, imported when first used (on the listing thread)."""

    def list_files(self, kind: str) -> list:
        from engine.models import extra_networks
        return extra_networks.list_files(kind)

    def folders(self, kind: str) -> list[Path]:
        from engine.models import extra_networks
        return list(extra_networks.lora_dirs() if kind == "lora" else extra_networks.embedding_dirs())

    def save_folder(self, kind: str, folder: Path) -> None:
        from engine.models import extra_networks
        extra_networks.save_folder(kind, folder)


class NetworkPicker(QDialog):
    """The list for one kind ("lora" or "embedding"); `chosen` carries the text to insert."""

    chosen = Signal(str)

    def __init__(self, kind: str, networks=None, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.kind = kind
        self.about = KINDS[kind]
        self.networks = networks if networks is not None else EngineNetworks()
        self.folders: list[Path] = []
        self.setObjectName(f"{kind}Picker")
        self.setWindowTitle(self.about.title)
        self.resize(520, 420)
        self.reader = NewestWork(f"{kind}-list", self)

        self.search = QLineEdit()
        self.search.setObjectName("networkSearch")
        self.search.setPlaceholderText("Search by name or folder")
        self.search.setClearButtonEnabled(True)
        self.files = QTreeWidget()
        self.files.setObjectName("networkFiles")
        self.files.setHeaderLabels(["Name", "Folder"])
        self.files.setRootIsDecorated(False)
        self.files.header().setSectionResizeMode(NAME, QHeaderView.ResizeMode.ResizeToContents)
        self.note = QLabel()
        self.note.setObjectName("networkNote")
        self.note.setWordWrap(True)
        self.note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.open_folder = QPushButton("Open folder")
        self.add_folder = QPushButton("Add a folder\u2026")
        self.add_folder.setToolTip(f"Look for {self.about.plural} in another folder too.")
        self.refresh_button = QPushButton("Look again")
        self.insert_button = QPushButton("Insert")
        self.insert_button.setDefault(True)

        layout = QVBoxLayout(self)
        layout.addWidget(self.search)
        layout.addWidget(self.files, 1)
        layout.addWidget(self.note)
        row = QHBoxLayout()
        for button in (self.open_folder, self.add_folder, self.refresh_button):
            row.addWidget(button)
        row.addStretch(1)
        row.addWidget(self.insert_button)
        layout.addLayout(row)

        self.search.textChanged.connect(self._filter)
        self.search.returnPressed.connect(self.choose)
        self.files.itemActivated.connect(lambda item, _column: self.choose(item))
        self.open_folder.clicked.connect(self.open_first_folder)
        self.add_folder.clicked.connect(self._add_folder)
        self.refresh_button.clicked.connect(self.refresh)
        self.insert_button.clicked.connect(lambda: self.choose())

    # ---- listing -------------------------------------------------------------------------

    def refresh(self) -> None:
        """Lists the files again, on a thread of their own; the list shows when they are in."""
        self.note.setText(f"Looking for {self.about.plural}\u2026")
        self.note.setVisible(True)
        networks, kind, plural = self.networks, self.kind, self.about.plural

        def work():
            try:
                return networks.list_files(kind), networks.folders(kind)
            except Exception as error:  # noqa: BLE001 - said in the dialog, which stays usable
                return RuntimeError(f"Could not list the {plural}: {error}")
        self.reader.start(self.note.text(), work, self._show, self._failed)

    @property
    def busy(self) -> bool:
        return self.reader.busy

    def shutdown(self) -> None:
        self.reader.shutdown()

    def _show(self, listing) -> None:
        files, self.folders = listing
        self.files.clear()
        # By name, case aside (the tree's own sort puts "Z" before "a").
        for file in sorted(files, key=lambda f: (f.name.lower(), f.name)):
            item = QTreeWidgetItem([file.name, str(Path(file.path).parent)])
            item.setToolTip(NAME, str(file.path))
            item.setData(NAME, Qt.ItemDataRole.UserRole, file.name)
            self.files.addTopLevelItem(item)
        self.files.setVisible(bool(files))
        self.search.setEnabled(bool(files))
        where = self.folders[0] if self.folders else None
        self.open_folder.setEnabled(where is not None)
        self.open_folder.setToolTip(str(where) if where else "")
        if files:
            self.note.setText("Double-click one, or press Enter, to insert it at the prompt's cursor.")
        else:
            place = f"in {where}" if where else "in a folder"
            self.note.setText(f"No {self.about.plural} yet. Put .safetensors files {place}, or add a "
                              "folder where you keep them, then look again.")
        self._filter()
        if files:
            self.search.setFocus()

    def _failed(self, message: str) -> None:
        self.files.clear()
        self.files.setVisible(False)
        self.note.setText(message)

    def _filter(self, *_args) -> None:
        words = self.search.text().lower().split()
        first = None
        for index in range(self.files.topLevelItemCount()):
            item = self.files.topLevelItem(index)
            haystack = f"{item.text(NAME)} {item.text(FOLDER)}".lower()
            item.setHidden(not all(word in haystack for word in words))
            if first is None and not item.isHidden():
                first = item
        if first is not None and (self.files.currentItem() is None or self.files.currentItem().isHidden()):
            self.files.setCurrentItem(first)
        self.insert_button.setEnabled(first is not None)

    # ---- choosing ----------------------------------------------------------------------

    def choose(self, item: Optional[QTreeWidgetItem] = None) -> None:
        """`item`, else the current file (the first one the search leaves), goes in."""
        item = item or self.files.currentItem()
        if item is None or item.isHidden():
            return
        self.chosen.emit(self.about.tag(item.data(NAME, Qt.ItemDataRole.UserRole)))
        self.hide()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        # Down from the search box walks the list, as in a completer.
        if self.search.hasFocus() and event.key() in (Qt.Key.Key_Down, Qt.Key.Key_Up):
            self.files.setFocus()
            self.files.keyPressEvent(event)
            return
        super().keyPressEvent(event)

    # ---- folders -----------------------------------------------------------------------

    def open_first_folder(self) -> bool:
        """Opens (making it if need be) the first folder the files are looked for in."""
        if not self.folders:
            return False
        folder = Path(self.folders[0])
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            self.note.setText(f"Could not make the folder {folder}: {error.strerror or error}.")
            return False
        opened = desktop.open_path(folder)
        if not opened:
            self.note.setText(f"No file manager opened {folder}.")
        return opened

    def ask_folder(self) -> Optional[Path]:
        """A method so tests can answer without a modal dialog."""
        start = str(self.folders[0]) if self.folders else ""
        chosen = QFileDialog.getExistingDirectory(self, f"A folder of {self.about.plural}", start)
        return Path(chosen) if chosen else None

    def _add_folder(self) -> None:
        folder = self.ask_folder()
        if folder is None:
            return
        try:
            self.networks.save_folder(self.kind, folder)
        except Exception as error:  # noqa: BLE001 - not a folder, or the settings cannot be written
            self.note.setText(str(error) or f"Could not add {folder}.")
            return
        self.refresh()


class NetworkButtons(QObject):
    """The LoRA… and Embedding… buttons of the prompt boxes: each opens its kind's picker,
    whose choice goes in at the cursor of the box the button belongs to."""

    def __init__(self, parent: QWidget, networks=None) -> None:
        super().__init__(parent)
        self.networks = networks
        self.pickers: dict[str, NetworkPicker] = {}
        self.buttons: list[QToolButton] = []
        self._target: Optional[QPlainTextEdit] = None

    def button(self, kind: str, edit: QPlainTextEdit) -> QToolButton:
        button = QToolButton()
        button.setText(KINDS[kind].button)
        button.setObjectName(f"{kind}Button")
        button.setToolTip(KINDS[kind].tip)
        button.setProperty("tip", KINDS[kind].tip)
        button.clicked.connect(lambda: self.open(kind, edit))
        self.buttons.append(button)
        return button

    def open(self, kind: str, edit: QPlainTextEdit) -> NetworkPicker:
        picker = self.pickers.get(kind)
        if picker is None:
            picker = self.pickers[kind] = NetworkPicker(kind, self.networks, self.parent())
            picker.chosen.connect(self._insert)
        self._target = edit
        picker.search.clear()
        picker.show()
        picker.raise_()
        picker.activateWindow()
        picker.refresh()
        return picker

    def set_usable(self, usable: bool, why: str = "") -> None:
        for button in self.buttons:
            button.setEnabled(usable)
            button.setToolTip(button.property("tip") if usable else why)

    def shutdown(self) -> None:
        for picker in self.pickers.values():
            picker.shutdown()

    def _insert(self, text: str) -> None:
        if self._target is not None:
            insert_at_cursor(self._target, text)
            self._target.window().activateWindow()
            self._target.setFocus()


OPENING = "([{"  # after these a tag needs no space before it
CLOSING = ",)]}:"  # before these, none after it ("(EasyNegative:1.2)")


def insert_at_cursor(edit: QPlainTextEdit, text: str) -> None:
    """Puts `text` in place of the selection (or at the cursor), with a space on either side
    where it would otherwise run into a word; the cursor ends after it."""
    cursor = edit.textCursor()
    document = edit.document()
    start, end = cursor.selectionStart(), cursor.selectionEnd()
    # characterAt answers U+2029 (a space) at line ends and at the end of the document.
    before = document.characterAt(start - 1) if start > 0 else " "
    after = document.characterAt(end)
    if not before.isspace() and before not in OPENING:
        text = " " + text
    if after and not after.isspace() and after not in CLOSING:
        text += " "
    cursor.insertText(text)
    edit.setTextCursor(cursor)
