"""Preferences > API: "Serve the API while the window is open", with `serve`'s options. Saved by
engine/api/preference.py; the window's switch (gui/api_switch.py) is told when they change."""
from __future__ import annotations

from typing import Callable

from PySide6.QtWidgets import QCheckBox, QFormLayout, QLabel, QLineEdit, QSpinBox, QWidget

from engine.api import preference as api_preference

# The window's API switch, told after the preferences are saved (one window, one switch).
_listeners: list[Callable[[], None]] = []


def on_saved(listener: Callable[[], None]) -> None:
    _listeners.append(listener)


def forget(listener: Callable[[], None]) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


class ApiTab(QWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.initial = api_preference.read()
        form = QFormLayout(self)
        self.enabled = QCheckBox("Serve the API while the window is open")
        self.enabled.setObjectName("apiEnabled")
        self.enabled.setChecked(self.initial.enabled)
        form.addRow(self.enabled)
        self.host = QLineEdit(self.initial.host)
        self.host.setObjectName("apiHost")
        form.addRow("Address", self.host)
        self.port = QSpinBox()
        self.port.setObjectName("apiPort")
        self.port.setRange(1, 65535)
        self.port.setValue(self.initial.port)
        form.addRow("Port", self.port)
        self.auth = QLineEdit(self.initial.auth)
        self.auth.setObjectName("apiAuth")
        self.auth.setPlaceholderText("USER:PASS (none: no password)")
        self.auth.setEchoMode(QLineEdit.EchoMode.PasswordEchoOnEdit)
        form.addRow("Password", self.auth)
        self.cors = QLineEdit(", ".join(self.initial.cors_origins))
        self.cors.setObjectName("apiCors")
        self.cors.setPlaceholderText("none: web pages elsewhere cannot call it")
        form.addRow("Browser origins", self.cors)
        self.anywhere = QCheckBox("Allow another address without a password")
        self.anywhere.setObjectName("apiListenAnywhere")
        self.anywhere.setChecked(self.initial.listen_anywhere)
        form.addRow(self.anywhere)
        note = QLabel("AUTOMATIC1111's HTTP API (/sdapi/v1/...), for the apps and plugins made for "
                      "it. Its jobs join this window's queue and gallery, marked API. 127.0.0.1 "
                      "is this machine only; another address needs a password, or the box "
                      "above if the network is yours alone.")
        note.setProperty("role", "hint")
        note.setWordWrap(True)
        form.addRow(note)

    def chosen(self) -> api_preference.ApiPreference:
        origins = tuple(o.strip() for o in self.cors.text().split(",") if o.strip())
        return api_preference.ApiPreference(
            enabled=self.enabled.isChecked(), host=self.host.text().strip(),
            port=self.port.value(), auth=self.auth.text().strip(), cors_origins=origins,
            listen_anywhere=self.anywhere.isChecked())

    def changed(self) -> bool:
        return self.chosen() != self.initial

    def problem(self):
        """Why the choice cannot be served (a sentence), or None: asked before anything is saved."""
        chosen = self.chosen()
        return chosen.problem() if chosen.enabled else None

    def save(self) -> None:
        """Raises ValueError with a sentence when the choice cannot be served; else saves and
        tells the window's switch."""
        if not self.changed():
            return
        api_preference.save(self.chosen())
        self.initial = self.chosen()
        for listener in list(_listeners):
            listener()
