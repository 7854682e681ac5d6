"""Starting the desktop app: application object, style, settings, the window. The one place
that builds the main window (the probe and the self-test ask here too)."""
from __future__ import annotations

import logging
import os
import sys
import time
from typing import Optional

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QMainWindow

from engine import preferences
from engine.locations import settings_dir
from engine.resources import resources_dir
from gui.linux_libraries import check_before_qt
from gui.theme import apply_theme

ORGANIZATION = "SD Desk"
APPLICATION = "SD Desk"
# Set by gui/probe.py: the app then prints when its window is first on screen.
SHOWN_ENV = "SD_DESK_REPORT_SHOWN"
WINDOW_SETTINGS = "window.ini"


def make_application(argv: Optional[list[str]] = None) -> QApplication:
    app = QApplication.instance()
    if app is None:
        app = QApplication(argv if argv is not None else sys.argv)
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setStyle("Fusion")  # the stylesheet is written against Fusion's metrics on every platform
    apply_theme(preferences.theme(), app)
    icon = resources_dir() / "icons" / "app.svg"
    if icon.is_file():
        app.setWindowIcon(QIcon(str(icon)))
    return app


def window_settings() -> QSettings:
    """The window's layout and form, beside settings.json, so SD_DESK_DATA_DIR moves them too."""
    return QSettings(str(settings_dir() / WINDOW_SETTINGS), QSettings.Format.IniFormat)


def make_window(services, settings: QSettings) -> QMainWindow:
    """The main window (gui/mainwindow.py) over `services` (gui.services.Services); call once
    the QApplication exists. None of its modules import TensorFlow."""
    from gui.mainwindow import MainWindow
    return MainWindow(services, settings)


def run_app(argv: Optional[list[str]] = None) -> int:
    logging.basicConfig(level=os.environ.get("SD_DESK_LOG", "WARNING"),
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    problem = check_before_qt()
    if problem:
        print(problem, file=sys.stderr)
        return 1
    app = make_application(argv)
    from gui.services import default_services

    window = make_window(default_services(), window_settings())
    window.show()
    if os.environ.get(SHOWN_ENV):
        # Runs once the event loop has painted the first frame.
        QTimer.singleShot(0, lambda: print(f"SD_DESK_SHOWN {time.time():.6f}", flush=True))
    code = int(app.exec())
    if window.host.thread.isRunning():
        # closeEvent waited and the engine is still stuck in one step (a long XLA
        # compile, a driver call). Exiting normally would abort in QThread's
        # destructor; leave at once instead: the images already saved are safe.
        logging.getLogger(__name__).error("worker still busy at exit; leaving without it")
        sys.stdout and sys.stdout.flush()
        os._exit(code)
    return code
