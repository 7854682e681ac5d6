"""Fixtures for the window tests: a fake engine, an in-memory history, private settings."""
from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtGui import QPalette

from gui.threads import running_threads
from tests.gui.fakes import FakeEngine, FakeHistory, fake_services


@pytest.fixture(autouse=True)
def no_thread_left_running():
    """Fails a test that leaves a worker, download or thumbnail thread behind.

    Autouse fixtures are set up first and torn down last, so this runs after
    qtbot has closed the test's widgets.
    """
    yield
    left = running_threads()
    assert not left, f"threads still running after the test: {left}"


@pytest.fixture(autouse=True)
def close_answers(monkeypatch):
    """Answers the close prompt ("keep" unless a test appends another answer first) instead
    of a modal box, and records each question's job count."""
    from gui.mainwindow import MainWindow
    answers: list[str] = []
    asked: list[int] = []

    def answer(self, count):
        asked.append(count)
        return answers.pop(0) if answers else "keep"
    monkeypatch.setattr(MainWindow, "ask_about_unfinished", answer)
    return answers, asked


@pytest.fixture(autouse=True)
def drop_answers(monkeypatch):
    """Answers "a dropped PNG with a recipe: load it, or use it as the source?" with
    "recipe" (what a drop meant before image to image) unless a test appends another
    answer; records each file asked about."""
    from gui.image_drops import ImageDrops
    answers: list[str] = []
    asked: list = []

    def answer(self, path):
        asked.append(path)
        return answers.pop(0) if answers else "recipe"
    monkeypatch.setattr(ImageDrops, "ask_drop_use", answer)
    return answers, asked


@pytest.fixture(autouse=True)
def cancel_all_answers(monkeypatch):
    """Answers "cancel all N jobs?" with yes unless a test appends False; records each count."""
    from gui.queue_panel import QueuePanel
    answers: list[bool] = []
    asked: list[int] = []

    def answer(self, count):
        asked.append(count)
        return answers.pop(0) if answers else True
    monkeypatch.setattr(QueuePanel, "confirm_cancel_all", answer)
    return answers, asked


@pytest.fixture
def settings(tmp_path):
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def engine():
    return FakeEngine()


@pytest.fixture
def history(tmp_path):
    return FakeHistory(tmp_path / "history")


@pytest.fixture
def services(engine, history):
    return fake_services(engine, history)


@pytest.fixture
def window(qtbot, services, settings):
    from gui.mainwindow import MainWindow
    w = MainWindow(services, settings)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: bool(w.engine_status.device), timeout=5000)
    yield w
    w.close()


@pytest.fixture
def restore_theme(qapp):
    """For tests that apply a theme (gui/theme.py), which is application-wide: afterwards
    the other tests get back the plain look they run with."""
    palette, sheet = QPalette(qapp.palette()), qapp.styleSheet()
    yield qapp
    qapp.setProperty("sdDeskTheme", None)
    qapp.styleHints().unsetColorScheme()
    qapp.setStyleSheet(sheet)
    qapp.setPalette(palette)


@pytest.fixture
def themed(restore_theme):
    """The window as people see it: the app's stylesheet and palette (dark), not Qt's plain look."""
    from gui.theme import apply_theme
    apply_theme("dark", restore_theme)
    return restore_theme
