"""LoRA… and Embedding…: the files are listed off the GUI thread, searched, and the chosen one
goes into the prompt at its cursor; an empty list says where files go."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QPlainTextEdit

from engine.models.extra_networks import NetworkFile
from gui.network_picker import NetworkButtons, NetworkPicker, insert_at_cursor


class FakeNetworks:
    """engine.models.extra_networks as the picker uses it, over a dict of folders; records
    the thread each listing ran on."""

    def __init__(self, root: Path, files: dict[str, list[str]] | None = None) -> None:
        self.root = root
        self.files = {kind: [NetworkFile(kind, name, root / kind / "sub" / f"{name}.safetensors")
                             for name in names] for kind, names in (files or {}).items()}
        self.saved: list[tuple[str, Path]] = []
        self.threads: list[int] = []
        self.fail = ""

    def list_files(self, kind: str) -> list:
        self.threads.append(threading.get_ident())
        if self.fail:
            raise OSError(self.fail)
        return list(self.files.get(kind, []))

    def folders(self, kind: str) -> list[Path]:
        return [self.root / f"{kind}s"] + [folder for k, folder in self.saved if k == kind]

    def save_folder(self, kind: str, folder: Path) -> None:
        self.saved.append((kind, folder))
        self.files.setdefault(kind, []).append(NetworkFile(kind, "added", folder / "added.safetensors"))


def _listed(qtbot, picker: NetworkPicker) -> list[tuple[str, str]]:
    qtbot.waitUntil(lambda: not picker.busy, timeout=5000)
    tree = picker.files
    return [(tree.topLevelItem(i).text(0), tree.topLevelItem(i).text(1))
            for i in range(tree.topLevelItemCount()) if not tree.topLevelItem(i).isHidden()]


@pytest.fixture
def prompt_form(qtbot, tmp_path):
    """A prompt box with the form's buttons, over fake files."""
    networks = FakeNetworks(tmp_path, {"lora": ["detail_tweaker", "paper cut", "add-detail-xl"],
                                       "embedding": ["EasyNegative", "bad-hands-5"]})
    edit = QPlainTextEdit()
    qtbot.addWidget(edit)
    buttons = NetworkButtons(edit, networks)
    edit.show()
    yield edit, buttons, networks
    buttons.shutdown()


def test_choosing_a_lora_inserts_its_tag_at_the_cursor(qtbot, prompt_form):
    edit, buttons, networks = prompt_form
    edit.setPlainText("a castle, watercolor")
    cursor = edit.textCursor()
    cursor.setPosition(len("a castle,"))
    edit.setTextCursor(cursor)
    button = buttons.button("lora", edit)
    assert button.text() == "LoRA\u2026"
    button.click()
    picker = buttons.pickers["lora"]
    listed = _listed(qtbot, picker)
    # Name and folder, sorted by name; listed on a thread of its own, not the GUI's.
    assert [name for name, _ in listed] == ["add-detail-xl", "detail_tweaker", "paper cut"]
    assert listed[0][1] == str(networks.root / "lora" / "sub")
    assert networks.threads and threading.get_ident() not in networks.threads

    qtbot.keyClicks(picker.search, "tweak")
    assert _listed(qtbot, picker) == [("detail_tweaker", str(networks.root / "lora" / "sub"))]
    qtbot.keyClick(picker.search, Qt.Key.Key_Return)
    assert edit.toPlainText() == "a castle, <lora:detail_tweaker:1> watercolor"
    assert not picker.isVisible()
    qtbot.waitUntil(edit.hasFocus, timeout=2000)
    # The cursor is after the tag: typing goes on from there.
    assert edit.textCursor().position() == len("a castle, <lora:detail_tweaker:1>")


def test_the_search_matches_every_word_in_name_or_folder(qtbot, prompt_form):
    edit, buttons, _networks = prompt_form
    picker = buttons.open("lora", edit)
    _listed(qtbot, picker)
    picker.search.setText("DETAIL xl")
    assert [name for name, _ in _listed(qtbot, picker)] == ["add-detail-xl"]
    picker.search.setText("sub paper")  # "sub" is the folder
    assert [name for name, _ in _listed(qtbot, picker)] == ["paper cut"]
    picker.search.setText("nothing like it")
    assert _listed(qtbot, picker) == []
    assert not picker.insert_button.isEnabled()
    picker.choose()
    assert edit.toPlainText() == ""


def test_a_double_clicked_embedding_goes_into_the_negative_prompt_by_name(qtbot, prompt_form):
    edit, buttons, _networks = prompt_form
    negative = QPlainTextEdit("blurry")
    qtbot.addWidget(negative)
    negative.moveCursor(QTextCursor.MoveOperation.End)
    buttons.button("embedding", negative).click()
    picker = buttons.pickers["embedding"]
    assert [name for name, _ in _listed(qtbot, picker)] == ["bad-hands-5", "EasyNegative"]
    item = picker.files.findItems("EasyNegative", Qt.MatchFlag.MatchExactly, 0)[0]
    picker.files.itemActivated.emit(item, 0)
    assert negative.toPlainText() == "blurry EasyNegative"
    assert edit.toPlainText() == ""


@pytest.mark.parametrize("text, start, end, inserted, expected", [
    ("", 0, 0, "<lora:a:1>", "<lora:a:1>"),
    ("a cat", 5, 5, "<lora:a:1>", "a cat <lora:a:1>"),
    ("a cat", 0, 0, "<lora:a:1>", "<lora:a:1> a cat"),
    ("a cat ", 6, 6, "<lora:a:1>", "a cat <lora:a:1>"),
    ("a big cat", 2, 5, "<lora:a:1>", "a <lora:a:1> cat"),  # the selection is replaced
    ("(:1.2)", 1, 1, "EasyNegative", "(EasyNegative:1.2)"),
    ("one,two", 3, 3, "x", "one x,two"),
    ("line one\nline two", 8, 8, "x", "line one x\nline two"),
    ("\U0001F98A cat", 3, 3, "x", "\U0001F98A x cat"),  # the fox is two UTF-16 units
])
def test_insertion_keeps_words_apart(qtbot, text, start, end, inserted, expected):
    edit = QPlainTextEdit(text)
    qtbot.addWidget(edit)
    cursor = edit.textCursor()
    cursor.setPosition(start)
    cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
    edit.setTextCursor(cursor)
    insert_at_cursor(edit, inserted)
    assert edit.toPlainText() == expected


def test_an_empty_list_says_where_files_go_and_offers_the_folder(qtbot, tmp_path, monkeypatch):
    networks = FakeNetworks(tmp_path)
    picker = NetworkPicker("lora", networks)
    qtbot.addWidget(picker)
    picker.show()
    picker.refresh()
    assert _listed(qtbot, picker) == []
    where = tmp_path / "loras"
    assert "No LoRA files yet" in picker.note.text()
    assert str(where) in picker.note.text()
    assert not picker.files.isVisible()

    opened = []
    monkeypatch.setattr("gui.desktop.open_path", lambda path: opened.append(path) or True)
    picker.open_folder.click()
    assert opened == [where] and where.is_dir()  # made, so there is a place to put files

    added = tmp_path / "my loras"
    monkeypatch.setattr(picker, "ask_folder", lambda: added)
    picker.add_folder.click()
    assert networks.saved == [("lora", added)]
    assert _listed(qtbot, picker) == [("added", str(added))]
    assert picker.files.isVisible()
    picker.shutdown()


def test_a_failed_listing_is_said_in_the_picker(qtbot, tmp_path):
    networks = FakeNetworks(tmp_path, {"lora": ["style"]})
    networks.fail = "Permission denied"
    picker = NetworkPicker("lora", networks)
    qtbot.addWidget(picker)
    picker.refresh()
    assert _listed(qtbot, picker) == []
    assert picker.note.text() == "Could not list the LoRA files: Permission denied"
    networks.fail = ""
    picker.refresh_button.click()
    assert _listed(qtbot, picker) == [("style", str(tmp_path / "lora" / "sub"))]
    picker.shutdown()


def test_the_engine_lists_the_app_folder_and_keeps_an_added_one(qtbot, tmp_path, monkeypatch):
    """Without fakes: engine.models.extra_networks over a private models folder and settings."""
    monkeypatch.setenv("SD_DESK_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("SD_DESK_DATA_DIR", str(tmp_path / "data"))
    own = tmp_path / "models" / "loras"
    (own / "styles").mkdir(parents=True)
    (own / "styles" / "ink.safetensors").write_bytes(b"not empty")
    picker = NetworkPicker("lora")
    qtbot.addWidget(picker)
    picker.refresh()
    assert _listed(qtbot, picker) == [("ink", str(own / "styles"))]
    assert picker.folders[0] == own

    kept = tmp_path / "elsewhere"
    kept.mkdir()
    (kept / "clay.safetensors").write_bytes(b"not empty")
    monkeypatch.setattr(picker, "ask_folder", lambda: kept)
    picker.add_folder.click()
    assert _listed(qtbot, picker) == [("clay", str(kept)), ("ink", str(own / "styles"))]

    monkeypatch.setattr(picker, "ask_folder", lambda: tmp_path / "no such folder")
    picker.add_folder.click()
    assert "is not a folder" in picker.note.text()
    picker.shutdown()


def test_the_form_has_the_buttons_and_inserts_into_its_prompt(qtbot, window, tmp_path):
    form = window.form
    window.model_chooser.select("sd-v1.4")
    form.network_buttons.networks = FakeNetworks(tmp_path, {"lora": ["style"]})
    form.prompt.setPlainText("a cat")
    form.prompt.moveCursor(QTextCursor.MoveOperation.End)
    lora = window.findChild(type(form.network_buttons.buttons[0]), "loraButton")
    lora.click()
    picker = form.network_buttons.pickers["lora"]
    assert _listed(qtbot, picker) == [("style", str(tmp_path / "lora" / "sub"))]
    picker.choose()
    assert form.request().prompt == "a cat <lora:style:1>"
    assert window.generation.generate_button.isEnabled()
    embedding_buttons = [b for b in form.network_buttons.buttons if b.objectName() == "embeddingButton"]
    assert len(embedding_buttons) == 2  # one for each prompt box
