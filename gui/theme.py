"""Light, dark, or the system's: Qt's colour scheme hint, the palette and the stylesheet, together.

The stylesheet (resources/style.qss) names its colours as @words@; each theme fills them.
The hint tells Qt's own parts (native dialogs, the title bar where the platform follows
it) which scheme the app is in; the palette colours what the stylesheet does not reach,
message boxes included. "system" follows the OS's light or dark setting and its changes,
and is dark where the platform says neither (the app's look before it had themes).
"""
from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from engine.preferences import THEMES
from engine.resources import resources_dir

# Text on the window and panels above 7:1 in both. "focus" (the keyboard focus ring) and
# "control" (check box and radio outlines) at least 3:1 against what is around them, as
# WCAG asks of the parts of a control (tests/gui/test_contrast.py measures it); the ring on
# the accent-filled Generate button is "focus_on_accent".
COLOURS = {
    "dark": {
        "window": "#1e222a", "text": "#d8dee9", "handle": "#2b313c", "field": "#252a33",
        "border": "#3b4252", "hover": "#3b4252", "accent_bg": "#3d5a80", "accent_text": "#e5e9f0",
        "accent": "#7aa2f7", "check": "#7aa2f7", "accent_hover": "#4a6fa0", "button": "#2e3440",
        "button_border": "#434c5e", "muted": "#6b7385", "disabled_border": "#343a46",
        "danger": "#f28b82", "caption": "#9aa5b8", "hint": "#8b95a7", "preview": "#16191f",
        "phase": "#c0cadb", "error_bg": "#4a2528", "error_border": "#a8474e",
        "info_bg": "#243447", "panel": "#232833", "tooltip_text": "#e5e9f0",
        "tooltip_border": "#4c566a",
        "focus": "#a9c4ff", "focus_on_accent": "#ffffff", "control": "#8b95a7",
        "chevron_up": "chevron-up.svg", "chevron_down": "chevron-down.svg",
    },
    "light": {
        "window": "#f5f6f8", "text": "#1f2430", "handle": "#d5d9e0", "field": "#ffffff",
        "border": "#c3c9d3", "hover": "#dde2ea", "accent_bg": "#2f5fb3", "accent_text": "#ffffff",
        "accent": "#2f5fb3", "check": "#8fb0e8", "accent_hover": "#3a6fc9", "button": "#e9ecf1",
        "button_border": "#bcc3ce", "muted": "#8a92a0", "disabled_border": "#dde1e7",
        "danger": "#b3261e", "caption": "#4a5568", "hint": "#5c6573", "preview": "#e8ebf0",
        "phase": "#2d3440", "error_bg": "#fde8e7", "error_border": "#d9534f",
        "info_bg": "#e6eef9", "panel": "#ffffff", "tooltip_text": "#1f2430",
        "tooltip_border": "#bcc3ce",
        "focus": "#174ea6", "focus_on_accent": "#1f2430", "control": "#5c6573",
        "chevron_up": "chevron-up-light.svg", "chevron_down": "chevron-down-light.svg",
    },
}
_CHOSEN = "sdDeskTheme"  # the application property holding the preference being followed


def system_scheme() -> str:
    """The OS's scheme as Qt reads it, "dark" where it says neither."""
    scheme = QApplication.styleHints().colorScheme()
    return "light" if scheme == Qt.ColorScheme.Light else "dark"


def stylesheet(scheme: str) -> str:
    path = resources_dir() / "style.qss"
    if not path.is_file():
        return ""
    text = path.read_text(encoding="utf-8")
    # Stylesheet URLs resolve against the working directory, so icons get absolute paths.
    text = text.replace("@ICONS@", (resources_dir() / "icons").as_posix())
    for name, value in COLOURS[scheme].items():
        text = text.replace(f"@{name}@", value)
    return text


def palette(scheme: str) -> QPalette:
    c = {name: QColor(value) for name, value in COLOURS[scheme].items() if value.startswith("#")}
    p = QPalette()
    roles = QPalette.ColorRole
    for role, colour in ((roles.Window, c["window"]), (roles.WindowText, c["text"]),
                         (roles.Base, c["field"]), (roles.AlternateBase, c["panel"]),
                         (roles.Text, c["text"]), (roles.Button, c["button"]),
                         (roles.ButtonText, c["text"]), (roles.BrightText, c["danger"]),
                         (roles.Highlight, c["accent_bg"]), (roles.HighlightedText, c["accent_text"]),
                         (roles.ToolTipBase, c["button"]), (roles.ToolTipText, c["tooltip_text"]),
                         (roles.PlaceholderText, c["hint"]), (roles.Link, c["accent"]),
                         (roles.Mid, c["border"]), (roles.Dark, c["handle"]),
                         (roles.Light, c["hover"])):
        p.setColor(role, colour)
    for role in (roles.WindowText, roles.Text, roles.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, c["muted"])
    return p


def current_scheme(app: Optional[QApplication] = None) -> str:
    """"light" or "dark": what the window shows now."""
    app = app or QApplication.instance()
    chosen = app.property(_CHOSEN) or "system"
    return system_scheme() if chosen == "system" else chosen


def apply_theme(name: str, app: Optional[QApplication] = None) -> str:
    """Applies "system", "light" or "dark" at once to every window; returns the scheme shown."""
    app = app or QApplication.instance()
    name = name if name in THEMES else "system"
    app.setProperty(_CHOSEN, name)  # first: the hint below may call _on_system_change
    hints = app.styleHints()
    if name == "system":
        hints.unsetColorScheme()
    else:
        hints.setColorScheme(Qt.ColorScheme.Light if name == "light" else Qt.ColorScheme.Dark)
    if not app.property("sdDeskFollowsSystem"):
        app.setProperty("sdDeskFollowsSystem", True)
        hints.colorSchemeChanged.connect(lambda *_: _on_system_change(app))
    scheme = current_scheme(app)
    _paint(app, scheme)
    return scheme


def _on_system_change(app: QApplication) -> None:
    if (app.property(_CHOSEN) or "system") == "system":
        _paint(app, system_scheme())


def _paint(app: QApplication, scheme: str) -> None:
    app.setPalette(palette(scheme))
    app.setStyleSheet(stylesheet(scheme))
