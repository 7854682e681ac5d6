"""Edit > Preferences: default model, preview, theme, the data and models folders, and the
compute backend.

Every value is kept in the one settings file, by engine/preferences.py (the backend by
engine/compute/selection.py), and feeds the one place that decides the thing there. The
theme, the preview and the default model count at once; the folders and the backend at
the next start (Keras picks its backend once per process, and one run must not write half
its files in the old folder), and the dialog says so. A folder that cannot be created or
written is named in a message and nothing is saved. Backends that are not installed are
shown disabled, with the command that installs them.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Optional

from PySide6.QtWidgets import (QButtonGroup, QCheckBox, QComboBox, QDialog, QDialogButtonBox,
                               QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QLabel,
                               QLineEdit, QMessageBox, QPushButton, QRadioButton,
                               QTabWidget, QVBoxLayout, QWidget)

from engine import preferences
from engine.compute import selection
from engine import locations
from gui.api_preferences import ApiTab
from gui.services import ModelInfo
from gui.stack import stacked

log = logging.getLogger(__name__)

AUTOMATIC = ""  # the radio button that clears the preference
RESTART_NOTE = "Changes take effect when SD Desk is restarted."
AUTOMATIC_MODEL = "Automatic (the first Stable Diffusion model installed, else Demo)"
THEME_LABELS = {"system": "System (follows the OS)", "light": "Light", "dark": "Dark"}
_READ = object()  # "ask this process", as opposed to a value (None included) a test passes


class FolderField(QWidget):
    """A folder preference: empty means the default, which the placeholder names."""

    def __init__(self, key: str, default: Path, in_use: Path) -> None:
        super().__init__()
        self.key = key
        saved = preferences.folder(key)
        self.initial = str(saved) if saved else ""
        self.edit = QLineEdit(self.initial)
        self.edit.setObjectName(key)
        self.edit.setPlaceholderText(f"Default: {default}")
        self.edit.setClearButtonEnabled(True)
        self.choose = QPushButton("Choose\u2026")
        self.choose.clicked.connect(self._choose)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.edit, 1)
        row.addWidget(self.choose)
        lines = [f"In use now: {in_use}"]
        variable = preferences.overridden_by(key)
        if variable:
            lines.append(f"{variable} is set in the environment: it wins over this setting.")
        self.note = QLabel("\n".join(lines))
        self.note.setProperty("role", "hint")
        self.note.setWordWrap(True)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        column.addLayout(row)
        column.addWidget(self.note)

    def value(self) -> str:
        return self.edit.text().strip()

    def changed(self) -> bool:
        return self.value() != self.initial

    def _choose(self) -> None:
        start = self.value() or self.edit.placeholderText().removeprefix("Default: ")
        chosen = QFileDialog.getExistingDirectory(self, "Choose a folder", start)
        if chosen:
            self.edit.setText(chosen)


class PreferencesDialog(QDialog):
    def __init__(self, parent=None, *, installed: Optional[list[str]] = None,
                 preference=_READ, in_use=_READ,
                 save: Callable[[Optional[str]], Path] = selection.save_preference,
                 default: Optional[str] = None, models: Optional[list[ModelInfo]] = None,
                 apply_theme: Optional[Callable[[str], object]] = None) -> None:
        """Each argument defaults to this process's own facts; tests pass their own."""
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self.setMinimumWidth(520)  # keeps an install command and a folder path on one line
        self._save = save
        if apply_theme is None:
            from gui.theme import apply_theme
        self._apply_theme = apply_theme
        installed = selection.installed_backends() if installed is None else installed
        self._preference = selection.read_preference() if preference is _READ else preference
        in_use = selection.applied() if in_use is _READ else in_use
        if default is None:
            default = selection.default_backend(installed)[0]
        if models is None:
            from gui.services import list_models
            models = list_models()

        self.tabs = QTabWidget()
        self.tabs.addTab(self._general_tab(models), "General")
        self.tabs.addTab(self._folders_tab(), "Folders")
        self.tabs.addTab(self._backend_tab(installed, in_use, default), "Compute backend")
        self.api = ApiTab()
        self.tabs.addTab(self.api, "API")

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        layout.addWidget(buttons)

    # ---- the tabs ------------------------------------------------------------------------

    def _general_tab(self, models: list[ModelInfo]) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        self.default_model = QComboBox()
        self.default_model.setObjectName("defaultModel")
        self.default_model.addItem(AUTOMATIC_MODEL, "")
        for info in models:
            text = info.label if info.usable else f"{info.label} (not installed)"
            self.default_model.addItem(text, info.id)
        self._initial_model = preferences.default_model() or ""
        index = self.default_model.findData(self._initial_model)
        self.default_model.setCurrentIndex(max(index, 0))
        model_note = QLabel("The model SD Desk starts on. One whose weights are missing is "
                            "passed over for the automatic choice until they are there.")
        form.addRow("Default model", stacked(self.default_model, _hint(model_note)))

        self._initial_preview = preferences.preview_enabled()
        self.preview = QCheckBox("Show the image as it forms, at each step")
        self.preview.setObjectName("preview")
        self.preview.setChecked(self._initial_preview)
        preview_note = QLabel("Off, each step skips drawing the preview: a little faster, "
                              "mostly on a GPU. Counts from the next generation.")
        form.addRow("Preview", stacked(self.preview, _hint(preview_note)))

        self.theme = QComboBox()
        self.theme.setObjectName("theme")
        for name in preferences.THEMES:
            self.theme.addItem(THEME_LABELS[name], name)
        self._initial_theme = preferences.theme()
        self.theme.setCurrentIndex(self.theme.findData(self._initial_theme))
        form.addRow("Theme", self.theme)
        return page

    def _folders_tab(self) -> QWidget:
        page = QWidget()
        column = QVBoxLayout(page)
        data_default = locations.platform_data_dir()
        self.data_dir = FolderField(preferences.DATA_DIR, data_default, locations.app_data_dir())
        self.models_dir = FolderField(preferences.MODELS_DIR, Path("<data folder>") / "models",
                                      locations.app_models_dir())
        form = QFormLayout()
        form.addRow("Data folder", self.data_dir)
        form.addRow("Models folder", self.models_dir)
        column.addLayout(form)
        self.folders_note = QLabel(
            "The data folder holds the history, the log and, unless a models folder is set, "
            "the downloaded and imported weights (weights already in "
            f"{locations.keras_cache_dir()} are used where they are). Nothing is moved: "
            "copy the old folder's contents into a new one to keep them. Settings stay in "
            f"{locations.settings_dir()}.\n" + RESTART_NOTE)
        self.folders_note.setWordWrap(True)
        column.addWidget(self.folders_note)
        column.addStretch(1)
        return page

    def _backend_tab(self, installed: list[str], in_use, default: Optional[str]) -> QWidget:
        box = QGroupBox()  # the tab names it
        column = QVBoxLayout(box)
        self.group = QButtonGroup(self)
        self.buttons: dict[str, QRadioButton] = {}
        automatic = "Automatic" + (f" (now {selection.label(default)})" if default else "")
        self._add_button(column, AUTOMATIC, automatic, True, "")
        for name, info in selection.BACKENDS.items():
            usable = name in installed
            hint = "" if usable else selection.install_hint(name)
            self._add_button(column, name, info.label, usable, hint)
        lines = []
        chosen = self._preference if self._preference in self.buttons else AUTOMATIC
        if not self.buttons[chosen].isEnabled():
            lines.append(f"The saved choice, {selection.label(chosen)}, is not installed: "
                         "Automatic is used until it is.")
            chosen = AUTOMATIC
        self.buttons[chosen].setChecked(True)
        self._initial = chosen or None
        if in_use is not None:
            lines.append(f"In use now: {in_use.label} ({in_use.reason}).")
            if in_use.source == selection.ENV_VAR:
                lines.append(f"{selection.ENV_VAR} is set in the environment: "
                             "it wins over this setting.")
        lines.append(RESTART_NOTE)
        self.note = QLabel("\n".join(lines))
        self.note.setWordWrap(True)
        column.addWidget(self.note)
        page = QWidget()
        outer = QVBoxLayout(page)
        outer.addWidget(box)
        outer.addStretch(1)
        return page

    def _add_button(self, column: QVBoxLayout, name: str, text: str, usable: bool,
                    hint: str) -> None:
        button = QRadioButton(text)
        button.setEnabled(usable)
        button.setProperty("backend", name)
        self.group.addButton(button)
        self.buttons[name] = button
        column.addWidget(button)
        if hint:
            button.setToolTip(hint)
            label = QLabel(hint)
            label.setObjectName("hint")
            label.setWordWrap(True)
            label.setIndent(24)
            column.addWidget(label)

    # ---- reading and saving --------------------------------------------------------------

    def chosen(self) -> Optional[str]:
        """The backend the buttons say, None for automatic."""
        return self.group.checkedButton().property("backend") or None

    def changes(self) -> dict:
        """The preferences (engine.preferences' keys) the person changed; None: back to the default."""
        changed: dict = {}
        for field in (self.data_dir, self.models_dir):
            if field.changed():
                changed[field.key] = Path(field.value()).expanduser() if field.value() else None
        if (self.default_model.currentData() or "") != self._initial_model:
            changed[preferences.DEFAULT_MODEL] = self.default_model.currentData() or None
        if self.preview.isChecked() != self._initial_preview:
            changed[preferences.PREVIEW] = self.preview.isChecked()
        if self.theme.currentData() != self._initial_theme:
            changed[preferences.THEME] = self.theme.currentData()
        return changed

    def accept(self) -> None:
        api_problem = self.api.problem()
        if api_problem:
            self.tabs.setCurrentWidget(self.api)
            QMessageBox.warning(self, "Preferences not saved", api_problem)
            return
        changes = self.changes()
        if changes:
            try:
                preferences.save(**changes)
            except preferences.PreferenceError as error:
                QMessageBox.warning(self, "Preferences not saved", str(error))
                return
            except OSError as error:
                log.warning("could not save the preferences: %s", error)
                QMessageBox.warning(self, "Preferences not saved",
                                    f"The settings file could not be written: {error}")
                return
        chosen = self.chosen()
        if chosen != self._initial:
            try:
                self._save(chosen)
            except OSError as error:
                log.warning("could not save the compute backend: %s", error)
                QMessageBox.warning(self, "Preferences not saved",
                                    f"The setting could not be written: {error}")
                return
        try:
            self.api.save()  # the window's switch serves as it now says, at once
        except (ValueError, OSError) as error:
            QMessageBox.warning(self, "API preferences not saved", str(error))
            return
        if preferences.THEME in changes:
            self._apply_theme(changes[preferences.THEME])
        super().accept()


def open_preferences(parent: QWidget, models: list[ModelInfo],
                     shown: Optional[PreferencesDialog] = None) -> PreferencesDialog:
    """Edit > Preferences: `shown`, the dialog opened before, is raised while it is open."""
    dialog = shown
    if dialog is None or not dialog.isVisible():
        dialog = PreferencesDialog(parent, models=models)
    dialog.show()
    dialog.raise_()
    return dialog


def compute_status(backend: Optional[str], device: str) -> str:
    """The status bar's "where it runs": backend and device, e.g. "JAX · CPU"."""
    return f"{selection.label(backend)} \u00b7 {device}" if backend else device


def _hint(label: QLabel) -> QLabel:
    label.setProperty("role", "hint")
    label.setWordWrap(True)
    return label
