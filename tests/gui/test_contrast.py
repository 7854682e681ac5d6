"""The theme's contrast (issue 31, item 7): keyboard focus on buttons, check boxes and radio
buttons is a ring at least 3:1 against what surrounds it and against the unfocused look
(WCAG's non-text contrast), check box and radio outlines show on the window, and what
cannot be chosen (a backend that is not installed) is drawn in the disabled colours."""
from __future__ import annotations

import re

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication
from PySide6.QtWidgets import (QCheckBox, QHBoxLayout, QPushButton, QRadioButton, QStyle,
                               QStyleOptionButton, QWidget)

from engine.compute import selection
from gui.theme import COLOURS, stylesheet
from tests.gui.fakes import fake_models

NON_TEXT = 3.0  # WCAG 2.1, 1.4.11


def luminance(colour: QColor) -> float:
    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    return 0.2126 * linear(colour.redF()) + 0.7152 * linear(colour.greenF()) + 0.0722 * linear(colour.blueF())


def contrast(a, b) -> float:
    high, low = sorted((luminance(QColor(a)), luminance(QColor(b))), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_contrast_formula_is_wcags():
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


def rules(scheme: str) -> list[tuple[str, str]]:
    """(selector, body) of each rule in the scheme's stylesheet, comments left out."""
    text = re.sub(r"/\*.*?\*/", "", stylesheet(scheme), flags=re.S)
    return [(selector.strip(), body) for selector, body in re.findall(r"([^{}]+)\{([^}]*)\}", text)]


def border_colour(scheme: str, selector: str) -> str:
    """The border colour of the last rule naming exactly `selector` among its selectors."""
    found = None
    for selectors, body in rules(scheme):
        if selector in [s.strip() for s in selectors.split(",")]:
            match = re.search(r"border(?:-color)?\s*:[^;]*?(#[0-9a-fA-F]{6}|transparent)", body)
            if match:
                found = match.group(1)
    assert found, f"no border colour for {selector} in the {scheme} stylesheet"
    return found


@pytest.mark.parametrize("scheme", ["dark", "light"])
def test_focus_rings_and_outlines_stand_out_in_both_themes(scheme):
    c = COLOURS[scheme]
    for widget, unfocused_edge in (("QPushButton", c["button_border"]), ("QToolButton", c["button_border"]),
                                   ("QCheckBox", c["window"]), ("QRadioButton", c["window"])):
        ring = border_colour(scheme, f"{widget}:focus")
        for around in (c["window"], c["panel"], unfocused_edge):
            assert contrast(ring, around) >= NON_TEXT, (scheme, widget, ring, around)
    assert border_colour(scheme, "QCheckBox") == "transparent"  # no ring until focused
    generate_ring = border_colour(scheme, "QPushButton#generateButton:focus")
    assert contrast(generate_ring, c["window"]) >= NON_TEXT
    assert contrast(border_colour(scheme, "QPushButton#generateButton"), generate_ring) >= 2.5
    for indicator in ("QCheckBox::indicator", "QRadioButton::indicator"):
        outline = border_colour(scheme, indicator)
        for around in (c["window"], c["field"], c["panel"]):
            assert contrast(outline, around) >= NON_TEXT, (scheme, indicator, outline, around)


def _settle(qtbot):
    for _ in range(3):
        QGuiApplication.processEvents()
    qtbot.wait(10)


def _changed_contrast(before, after) -> tuple[int, float]:
    """How many pixels focus changed, and the strongest contrast between a pixel's two looks."""
    changed, strongest = 0, 1.0
    for y in range(before.height()):
        for x in range(before.width()):
            a, b = before.pixelColor(x, y), after.pixelColor(x, y)
            if a != b:
                changed += 1
                strongest = max(strongest, contrast(a, b))
    return changed, strongest


def test_keyboard_focus_is_drawn_as_a_ring_in_the_dark_theme(qtbot, themed):
    host = QWidget()
    qtbot.addWidget(host)
    row = QHBoxLayout(host)
    spare = QPushButton("Elsewhere")
    widgets = [QPushButton("Open image\u2026"), QCheckBox("Lock the seed"), QRadioButton("TensorFlow")]
    for widget in (spare, *widgets):
        row.addWidget(widget)
    host.show()
    host.activateWindow()
    qtbot.waitActive(host)
    for widget in widgets:
        spare.setFocus(Qt.FocusReason.TabFocusReason)
        _settle(qtbot)
        before = widget.grab().toImage()
        widget.setFocus(Qt.FocusReason.TabFocusReason)
        _settle(qtbot)
        assert widget.hasFocus()
        after = widget.grab().toImage()
        changed, strongest = _changed_contrast(before, after)
        # At least a ring around the edge, in a colour 3:1 from what was there.
        assert changed >= widget.width() + widget.height(), (widget.text(), changed)
        assert strongest >= NON_TEXT, (widget.text(), strongest)


def _extreme_text_colour(image) -> QColor:
    """The lightest pixel: on the dark theme, the text's own colour."""
    return max((image.pixelColor(x, y) for y in range(image.height()) for x in range(image.width())),
               key=luminance)


def _backend_tab(qtbot):
    from gui.preferences import PreferencesDialog
    dialog = PreferencesDialog(installed=["tensorflow"], preference=None,
                               in_use=selection.Choice("tensorflow", "default", "default: fastest"),
                               models=fake_models(), save=lambda name: None,
                               apply_theme=lambda name: None)
    qtbot.addWidget(dialog)
    dialog.tabs.setCurrentIndex(2)
    dialog.show()
    _settle(qtbot)
    return dialog


def test_backends_that_are_not_installed_look_disabled(qtbot, themed):
    dialog = _backend_tab(qtbot)
    dark = COLOURS["dark"]
    usable, missing = dialog.buttons["tensorflow"], dialog.buttons["jax"]
    assert usable.isEnabled() and not missing.isEnabled() and not dialog.buttons["torch"].isEnabled()
    shown = _extreme_text_colour(usable.grab().toImage())
    greyed = _extreme_text_colour(missing.grab().toImage())
    assert contrast(shown, dark["text"]) < 1.3  # the enabled label in the text colour
    assert contrast(greyed, dark["muted"]) < 1.3  # the disabled one in the muted colour
    assert contrast(shown, greyed) >= 2.5, (shown.name(), greyed.name())


def test_the_backend_radio_buttons_show_their_outline(qtbot, themed):
    dialog = _backend_tab(qtbot)
    usable = dialog.buttons["tensorflow"]
    # The unchecked radio's outline: some pixel of its indicator stands 3:1 off the window.
    assert not usable.hasFocus() and not usable.isChecked()
    option = QStyleOptionButton()
    usable.initStyleOption(option)
    box = usable.style().subElementRect(QStyle.SubElement.SE_RadioButtonIndicator, option, usable)
    assert 10 <= box.width() <= 24
    image = usable.grab().toImage()
    indicator = [image.pixelColor(x, y) for y in range(box.top(), box.bottom() + 1)
                 for x in range(box.left(), box.right() + 1)]
    assert max(contrast(p, COLOURS["dark"]["window"]) for p in indicator) >= NON_TEXT
