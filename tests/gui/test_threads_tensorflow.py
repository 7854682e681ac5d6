import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# TensorFlow imported by one slot call on a managed thread and used by a later one,
# as the generation worker does (load the engine, then run jobs).
SCRIPT = """
import os
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from PySide6.QtCore import QCoreApplication, QObject, Qt, Signal, Slot
from gui.threads import managed_thread

class Worker(QObject):
    loaded = Signal()
    done = Signal(float)

    @Slot()
    def load(self):
        import keras  # noqa: F401
        self.loaded.emit()

    @Slot()
    def use(self):
        import keras
        layer = keras.layers.Dense(4)
        layer.build((None, 3))
        self.done.emit(float(layer.kernel.numpy().shape[1]))

app = QCoreApplication([])
thread = managed_thread("tf-test")
worker = Worker()
worker.moveToThread(thread)
thread.started.connect(worker.load)
worker.loaded.connect(worker.use, Qt.ConnectionType.QueuedConnection)
worker.done.connect(lambda value: (print("units", value, flush=True), app.quit()))
thread.start()
app.exec()
thread.quit()
thread.wait()
"""


def test_tensorflow_loaded_in_one_slot_runs_in_the_next():
    completed = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True,
                               text=True, timeout=300)
    assert completed.returncode == 0, f"exit {completed.returncode}: {completed.stderr[-1500:]}"
    assert "units 4.0" in completed.stdout
