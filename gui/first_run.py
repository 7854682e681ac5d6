"""The first-run panel, in the middle of the window while the chosen model has no weights:
download them, import a folder that holds them, or try the demo. File > Import Weights
starts its import too."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

from PySide6.QtCore import QSettings, Signal
from PySide6.QtWidgets import (QFileDialog, QFrame, QHBoxLayout, QLabel, QProgressBar, QPushButton,
                               QVBoxLayout, QWidget)

from engine.durations import format_duration
from engine.events import CancelToken
from engine.models.registry import DEMO
from gui.folders import remember_folder, start_folder
from gui.model_chooser import ModelChooser
from gui.notices import Notices
from gui.services import ModelInfo
from gui.tasks import Task, on_own_thread


class FirstRunPanel(QFrame):
    """Shown when the chosen model has no weights: download, import, or try the demo."""

    needed = Signal(bool)  # the chosen model has no weights (True), or has them again

    def __init__(self, models: ModelChooser, notices: Notices, settings: QSettings,
                 download: Optional[Callable] = None, import_folder: Optional[Callable] = None,
                 parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setObjectName("firstRun")
        self.models = models
        self.notices = notices
        self.settings = settings  # where the folder dialog starts
        self._download = download
        self._import = import_folder
        self._task = ""
        self._thread = None
        self._runner = None
        self._cancel: Optional[CancelToken] = None
        self.model: Optional[ModelInfo] = None
        self._target: Optional[ModelInfo] = None  # the model the running task is for
        self.title = QLabel()
        self.title.setObjectName("firstRunTitle")
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.download_button = QPushButton("Download")
        self.download_button.setObjectName("downloadButton")
        self.cancel_button = QPushButton("Cancel")
        self.import_button = QPushButton("Import a folder\u2026")
        self.demo_button = QPushButton("Use the built-in demo model")
        self.demo_button.setObjectName("demoButton")
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.status = QLabel()
        self.status.setWordWrap(True)
        buttons = QHBoxLayout()
        for b in (self.download_button, self.cancel_button, self.import_button, self.demo_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.text)
        layout.addLayout(buttons)
        layout.addWidget(self.bar)
        layout.addWidget(self.status)
        layout.addStretch(1)
        self.download_button.clicked.connect(self.start_download)
        self.cancel_button.clicked.connect(self.cancel_download)
        self.import_button.clicked.connect(lambda: self.model and self.choose_folder(self.model.id))
        self.demo_button.clicked.connect(lambda: self.models.select(DEMO.id))
        models.changed.connect(self._follow_chosen)
        self._set_busy(False)

    def _follow_chosen(self) -> None:
        model = self.models.chosen()
        needs_weights = model is not None and not model.usable
        if needs_weights:
            self.set_model(model, self.models.has(DEMO.id))
        self.needed.emit(needs_weights)

    def set_model(self, model: ModelInfo, demo_available: bool) -> None:
        self.model = model
        size = f"about {model.approx_size / 1e9:.1f} GB" if model.approx_size else "a few GB"
        self.title.setText(f"{model.label} needs its weights")
        self.text.setText(
            f"The weight files are not on this computer yet ({model.summary or model.state}).\n"
            f"Download them ({size}, resumable), import a folder that already holds them, "
            + ("or try the small built-in demo model right away." if demo_available
               else "or choose another model."))
        self.demo_button.setVisible(demo_available)
        self.download_button.setEnabled(self._download is not None and not self.busy)

    @property
    def busy(self) -> bool:
        return self._thread is not None and self._thread.isRunning()

    def start_download(self) -> None:
        if self._download is not None:
            self._start("download", self._download)

    def import_weights(self) -> None:
        """File > Import Weights: for the chosen model when it needs weights, else the first
        that does, else the chosen (or first) Stable Diffusion model, to re-import it."""
        chosen = self.models.chosen()
        weighted = [m for m in self.models.models() if m.id != DEMO.id]
        candidates = ([chosen] if chosen is not None and chosen.id != DEMO.id and not chosen.usable
                      else []) + [m for m in weighted if not m.usable]
        candidates += [chosen] if chosen is not None and chosen.id != DEMO.id else []
        candidates += weighted
        if candidates:
            self.choose_folder(candidates[0].id)

    def choose_folder(self, model_id: str) -> None:
        """Asks for the folder that holds the model's weight files, and imports them from it."""
        model = self.models.get(model_id)
        if model is None:
            return
        if self.busy:
            self.notices.error_dialog("Import not started",
                                      "A download or import is already running; wait for it to end.")
            return
        folder = QFileDialog.getExistingDirectory(
            self.window(), f"Folder that holds the weight files for {model.label}",
            start_folder(self.settings))
        if folder:
            remember_folder(self.settings, Path(folder))
            # Hashing gigabytes happens on the panel's own thread, never here.
            self.start_import(Path(folder), model)

    def start_import(self, folder: Path, model: Optional[ModelInfo] = None) -> None:
        """Imports into `model`, by default the one the panel shows."""
        if self._import is not None:
            self._start("import", lambda model_id, progress, cancel:
                        self._import(model_id, Path(folder), progress, cancel), model)

    def _start(self, task: str, fn: Callable, model: Optional[ModelInfo] = None) -> None:
        model = model or self.model
        if model is None or self.busy:
            return
        self._target = model
        self._task = task
        self._runner = Task()
        self._cancel = self._runner.token
        self._runner.progress.connect(self._on_progress)
        self._runner.finished.connect(self._on_done)
        self._runner.failed.connect(self._on_failed)
        self._set_busy(True)
        self.status.setText("Starting the download\u2026" if task == "download"
                            else "Checking the files in that folder\u2026")
        model_id = model.id
        self._thread = on_own_thread(self._runner, task,
                                     lambda progress, cancel: fn(model_id, progress, cancel),
                                     ended=self._task_ended)

    def _task_ended(self) -> None:
        self._set_busy(False)

    def cancel_download(self) -> None:
        if self._cancel is not None:
            self._cancel.cancel()
            self.status.setText("Cancelling\u2026 what was fetched is kept, to resume later."
                                if self._task == "download" else "Cancelling\u2026")

    def shutdown(self) -> None:
        self.cancel_download()
        if self._thread is not None:
            self._thread.wait()

    def _set_busy(self, busy: bool) -> None:
        self.download_button.setEnabled(not busy and self._download is not None)
        self.cancel_button.setVisible(busy)
        self.import_button.setEnabled(not busy and self._import is not None)
        self.bar.setVisible(busy)

    def _on_progress(self, p) -> None:
        fraction = getattr(p, "fraction", 0.0) or 0.0
        self.bar.setValue(int(fraction * 1000))
        eta = getattr(p, "overall_eta", None)
        rate = getattr(p, "rate", 0.0) or 0.0
        verb = "Downloading" if self._task == "download" else "Checking"
        text = f"{verb} {getattr(p, 'file_name', '')}"
        if hasattr(p, "file_index"):
            text += f" ({p.file_index} of {p.file_count})"
        text += f": {fraction:.0%}"
        if rate:
            text += f", {rate / 1e6:.1f} MB/s"
        if eta is not None:
            text += f", about {format_duration(eta)} left"
        self.status.setText(text)

    def _on_done(self, result) -> None:
        if getattr(result, "cancelled", False):
            self.status.setText("Download cancelled; it resumes where it stopped."
                                if self._task == "download" else "Import cancelled.")
            return
        if self._task == "import":
            summary = result.summary() if hasattr(result, "summary") else "Import finished."
            self.status.setText(summary)
            if not getattr(result, "complete", True):
                # A dialog: the panel may not even be on screen for File > Import.
                self.notices.error_dialog("Import incomplete",
                                          f"{self._target.label} is not ready: not every file was "
                                          f"imported.\n\n{summary}")
                return
        else:
            self.status.setText("Download complete.")
        self.models.refresh()
        model = self.models.get(self._target.id)
        self.notices.status(f"{model.label if model else self._target.id} is ready.", 8000)

    def _on_failed(self, message: str) -> None:
        self.status.setText(f"{self._task.capitalize()} failed: {message}")
        what = "imported" if self._task == "import" else "downloaded"
        self.notices.error_dialog(f"{self._task.capitalize()} failed",
                                  f"{self._target.label} could not be {what}.\n\n{message}")
