"""Retakes the README screenshot (resources/screenshots/main-window.png) with the real app.

    xvfb-run -s "-screen 0 1600x1000x24" .venv/bin/python packaging/screenshot.py [OUT.png]

Runs the real window on a real display (Xvfb, not the offscreen platform, so
fonts and styles look as a user sees them) with a fresh temporary history and
settings, fills the form and presses Generate for each prompt with the built-in
demo model, then grabs the window at 1440x880 (its default size) with the last image in the
preview and selected in the gallery; then at each of LAYOUT_SIZES beside it
(window-WxH.png), to check the layout at small and large screens.
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIZE = (1440, 880)  # the window's default (gui/mainwindow.py)
LAYOUT_SIZES = [(900, 600), (1280, 800), (1920, 1080)]
PROMPTS = [
    "a green triangle at the top, white background",
    "a small yellow square on the left, black background",
    "a large red circle in the centre, blue background",
    "a large white circle on the right and a small blue square on the left, purple background",
]


def main(out: Path) -> int:
    sys.path.insert(0, str(ROOT))
    scratch = Path(tempfile.mkdtemp(prefix="sd-desk-"))
    os.environ["SD_DESK_DATA_DIR"] = str(scratch)  # nothing of the user's is read or written
    os.environ["SD_DESK_HISTORY_DIR"] = str(scratch / "history")
    from PySide6.QtCore import QSettings, QTimer

    from engine.request import GenerationRequest
    from gui.app import make_application, make_window
    from engine.models.registry import DEMO
    from gui.services import default_services

    app = make_application([sys.argv[0]])
    window = make_window(default_services(),
                         QSettings(str(scratch / "settings.ini"), QSettings.Format.IniFormat))
    window.resize(*SIZE)
    window.show()
    todo = list(PROMPTS)

    def press_generate(*_over) -> None:
        if not todo:
            QTimer.singleShot(500, finish)  # let the gallery load the last thumbnail
            return
        window.form.set_request(GenerationRequest(
            prompt=todo.pop(0), seed=100 + len(todo), steps=20, guidance=7.5,
            width=256, height=256, model=DEMO.id))
        window.form.seed.lock.setChecked(True)
        window.generation.generate_button.click()

    def finish() -> None:
        window.gallery.view.setCurrentIndex(window.gallery.model.index(0))
        app.processEvents()
        window.grab().save(str(out))
        print("saved", out, "-", window.progress.phase.text(), flush=True)
        sizes = list(LAYOUT_SIZES)

        def next_size() -> None:
            if not sizes:
                window.close()
                app.quit()
                return
            width, height = sizes.pop(0)
            window.resize(width, height)
            QTimer.singleShot(400, lambda: save_size(width, height))

        def save_size(width: int, height: int) -> None:
            path = out.parent / f"window-{width}x{height}.png"
            window.grab().save(str(path))
            print("saved", path, window.width(), "x", window.height(), flush=True)
            next_size()

        next_size()

    def wait_for_engine() -> None:
        if window.engine_status.device:
            press_generate()
        else:
            QTimer.singleShot(100, wait_for_engine)

    window.progress.job_over.connect(press_generate)
    wait_for_engine()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1
                  else ROOT / "resources" / "screenshots" / "main-window.png"))
