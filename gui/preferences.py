"""Edit > Preferences: the compute backend (TensorFlow, JAX or PyTorch).

Keras picks its backend once per process, at import, so a new choice is saved
for the next start (engine/compute/selection.py reads it in main.py) and the
dialog says so. Backends that are not installed are shown disabled, with the
command that installs them.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Optional

from PySide6.QtWidgets import (QButtonGroup, QDialog, QDialogButtonBox, QGroupBox, QLabel,
                               QMainWindow, QMessageBox, QRadioButton, QVBoxLayout)

from engine.compute import selection

log = logging.getLogger(__name__)

AUTOMATIC = ""  # the radio button that clears the preference
RESTART_NOTE = "Changes take effect when SD Desk is restarted."
_READ = object()  # "ask this process", as opposed to a value (None included) a test passes


class PreferencesDialog(QDialog):
    def __init__(self, parent=None, *, installed: Optional[list[str]] = None,
                 preference=_READ, in_use=_READ,
                 save: Callable[[Optional[str]], Path] = selection.save_preference,
                 default: Optional[str] = None) -> None:
        """Each argument defaults to this process's own facts; tests pass their own."""
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self.setMinimumWidth(460)  # keeps an install command on one line
        self._save = save
        installed = selection.installed_backends() if installed is None else installed
        self._preference = selection.read_preference() if preference is _READ else preference
        in_use = selection.applied() if in_use is _READ else in_use
        if default is None:
            default = selection.default_backend(installed)[0]

        box = QGroupBox("Compute backend")
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

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(box)
        layout.addWidget(buttons)

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

    def chosen(self) -> Optional[str]:
        """The backend the buttons say, None for automatic."""
        return self.group.checkedButton().property("backend") or None

    def accept(self) -> None:
        chosen = self.chosen()
        if chosen != self._initial:
            try:
                self._save(chosen)
            except OSError as error:
                log.warning("could not save the compute backend: %s", error)
                QMessageBox.warning(self, "Preferences not saved",
                                    f"The setting could not be written: {error}")
                return
        super().accept()


def open_preferences(window: QMainWindow) -> None:
    dialog = getattr(window, "preferences_dialog", None)
    if dialog is None or not dialog.isVisible():
        dialog = PreferencesDialog(window)
        window.preferences_dialog = dialog
    dialog.show()
    dialog.raise_()


def compute_status(backend: Optional[str], device: str) -> str:
    """The status bar's "where it runs": backend and device, e.g. "JAX · CPU"."""
    return f"{selection.label(backend)} \u00b7 {device}" if backend else device
