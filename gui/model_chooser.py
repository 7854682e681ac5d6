"""The model the form generates with: every model the services list, with its state, in one
combo box, and what the menus do about models (Tools > Models, Manage Checkpoints)."""
from __future__ import annotations

import logging
from typing import Callable, Optional

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QLabel, QMenu, QVBoxLayout, QWidget

from engine import preferences
from gui.notices import Notices
from gui.services import ModelInfo

log = logging.getLogger(__name__)

STATE_MARKS = {"installed": "\u2713", "unverified": "\u2713", "missing": "\u2193 not installed",
               "partial": "\u2193 download incomplete", "corrupt": "\u26a0 damaged",
               "unknown": ""}


def model_text(info: ModelInfo) -> str:
    mark = STATE_MARKS.get(info.state, info.state)
    return f"{info.label}  {mark}".strip()


class ModelChooser(QWidget):
    changed = Signal()  # another model chosen, or the models and their states read again

    def __init__(self, list_models: Callable[[], list[ModelInfo]], notices: Notices,
                 parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.list_models = list_models  # read at each refresh
        self.notices = notices
        self._models: dict[str, ModelInfo] = {}
        self.manager = None  # Manage Checkpoints (gui.model_manager), once opened
        self.combo = QComboBox()
        self.combo.setObjectName("model")
        self.note = QLabel()
        self.note.setObjectName("modelNote")
        self.note.setProperty("role", "hint")
        self.note.setWordWrap(True)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        column.addWidget(self.combo)
        column.addWidget(self.note)
        self.combo.currentIndexChanged.connect(lambda *_: self.changed.emit())

    # ---- the models ------------------------------------------------------------------

    def refresh(self) -> None:
        """Reads the models and their states again; keeps the choice when it still exists."""
        try:
            infos = self.list_models()
        except Exception as error:  # noqa: BLE001
            log.exception("listing models failed")
            infos = []
            self.notices.error("Models unavailable", str(error))
        self._models = {m.id: m for m in infos}
        chosen = self.model_id()
        self._set_items([(m.id, model_text(m)) for m in infos])
        if not chosen:
            self.select(self.default_model())
        for m in infos:
            note = "" if m.usable else m.summary
            self._set_text(m.id, model_text(m), note)
        self.changed.emit()

    def prefer_default(self) -> None:
        """A default chosen in Edit > Preferences beats the model the form last used."""
        if preferences.default_model():
            self.select(self.default_model())

    def default_model(self) -> str:
        """engine.default_model's rule, from the states the model list already holds."""
        from engine.default_model import default_model_id
        infos = self.models()
        present = {m.id for m in infos if m.has_files}
        chosen = default_model_id(has_files=present.__contains__)
        listed = [m.id for m in infos]
        return chosen if chosen in listed else (listed[0] if listed else "")

    def models(self) -> list[ModelInfo]:
        return list(self._models.values())

    def get(self, model_id: str) -> Optional[ModelInfo]:
        return self._models.get(model_id)

    def has(self, model_id: str) -> bool:
        return model_id in self._models

    def chosen(self) -> Optional[ModelInfo]:
        return self._models.get(self.model_id())

    def model_id(self) -> str:
        return self.combo.currentData() or ""

    def select(self, model_id: str) -> bool:
        index = self.combo.findData(model_id)
        if index >= 0:
            self.combo.setCurrentIndex(index)
        return index >= 0

    # ---- the menus -------------------------------------------------------------------

    def fill_menu(self, menu: QMenu) -> None:
        """Tools > Models: each model with its state; choosing one selects it, and a missing
        one shows where to download or import it."""
        menu.clear()
        for info in self.models():
            state = "ready" if info.usable else info.state
            action = menu.addAction(f"{info.label} ({state})",
                                    lambda model_id=info.id: self.select(model_id))
            action.setCheckable(True)
            action.setChecked(info.id == self.model_id())

    def open_manager(self) -> None:
        """Tools > Manage Checkpoints; what it adds or removes shows here at once."""
        from gui.model_manager import ModelManager
        if self.manager is None:
            self.manager = ModelManager(self.window())
            self.manager.changed.connect(self.refresh)
        else:
            self.manager.reload()
        self.manager.show()
        self.manager.raise_()

    # ---- inside ----------------------------------------------------------------------

    def _set_items(self, models: list[tuple[str, str]]) -> None:
        """(id, text shown) pairs; keeps the current choice when it still exists."""
        current = self.combo.currentData()
        self.combo.blockSignals(True)
        self.combo.clear()
        for model_id, text in models:
            self.combo.addItem(text, model_id)
        index = self.combo.findData(current)
        self.combo.setCurrentIndex(index if index >= 0 else 0)
        self.combo.blockSignals(False)

    def _set_text(self, model_id: str, text: str, note: str = "") -> None:
        index = self.combo.findData(model_id)
        if index >= 0:
            self.combo.setItemText(index, text)
            self.combo.setItemData(index, note, Qt.ItemDataRole.ToolTipRole)
        if model_id == self.model_id():
            self.note.setText(note)
            self.note.setVisible(bool(note))
