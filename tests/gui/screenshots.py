"""Screenshots of the real window, for looking at it and for the README (not a test).

    xvfb-run -s "-screen 0 1600x1000x24" .venv/bin/python tests/gui/screenshots.py OUT_DIR

Takes: empty.png (fresh window), generating.png (mid-generation, preview on),
gallery.png (after a few images, one selected). Uses the real engine: the demo
model when its weights are there, else Stable Diffusion 1.4 with random weights.
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

PROMPTS = [
    "a large red circle in the centre, blue background",
    "a small yellow square on the left, black background",
    "a green triangle at the top, white background",
]


def main(out: Path, size: int, steps: int) -> int:
    out.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="sd-desk-shots-"))
    os.environ["SD_DESK_HISTORY_DIR"] = str(scratch / "history")
    from PySide6.QtCore import QSettings, QTimer

    from engine.request import GenerationRequest
    from gui.app import make_application
    from gui.mainwindow import MainWindow
    from gui.selftest import _force_usable, choose_model
    from gui.services import default_services, make_engine

    app = make_application([sys.argv[0]])
    services = default_services()
    model_id, random_weights = choose_model(services.models())
    if os.environ.get("SHOT_RANDOM"):
        model_id, random_weights = "sd-v1.4", True
    if random_weights:
        services.engine_factory = lambda: make_engine(random_weights=True)
        services.models = _force_usable(services.models, model_id)
    window = MainWindow(services, QSettings(str(scratch / "s.ini"), QSettings.Format.IniFormat))
    window.resize(1480, 900)
    window.show()

    state = {"stage": "wait-engine", "done": 0, "shot_mid": False}

    def shot(name: str) -> None:
        window.grab().save(str(out / name))
        print("saved", out / name, flush=True)

    def submit(i: int, steps_: int) -> None:
        window.form.set_request(GenerationRequest(
            prompt=PROMPTS[i % len(PROMPTS)], seed=100 + i,
            steps=steps_, width=size, height=size, model=model_id))
        window.form.seed.lock.setChecked(True)
        window.generate()

    def on_over(job: int, how: str) -> None:
        state["done"] += 1
        print("job", job, how, window.phase.text(), flush=True)

    window.job_over.connect(on_over)

    def poll() -> None:
        stage = state["stage"]
        if window.phase.text() != state.get("phase"):
            state["phase"] = window.phase.text()
            print("phase:", state["phase"], flush=True)
        if stage == "wait-engine" and window.device:
            window.form.prompt.setPlainText("")
            shot("empty.png")
            for i in range(len(PROMPTS)):
                submit(i, max(2, steps // 2))
            state["stage"] = "batch"
        elif stage == "batch" and state["done"] >= len(PROMPTS):
            submit(0, steps)
            state["stage"] = "generating"
        elif stage == "generating":
            text = window.phase.text()
            if text.startswith("Step ") and int(text.split()[1]) >= steps // 2 and not state["shot_mid"]:
                state["shot_mid"] = True
                shot("generating.png")
            if state["done"] >= len(PROMPTS) + 1:
                window.gallery_view.setCurrentIndex(window.gallery.index(0))
                state["stage"] = "final"
        elif stage == "final":
            shot("gallery.png")
            window.close()
            app.quit()
            return
        QTimer.singleShot(50, poll)

    QTimer.singleShot(200, poll)
    return app.exec()


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "shots")
    sys.exit(main(target, int(os.environ.get("SHOT_SIZE", "256")),
                  int(os.environ.get("SHOT_STEPS", "12"))))
