"""The window's smaller parts: the job queue, the image details, the first-run panel."""
from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from typing import Callable, Optional

from PySide6.QtCore import QSize, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QGuiApplication, QPixmap
from PySide6.QtWidgets import (QFrame, QHBoxLayout, QLabel, QListWidget, QListWidgetItem,
                               QPlainTextEdit, QProgressBar, QPushButton, QToolButton,
                               QVBoxLayout, QWidget)

from engine.events import CancelToken
from gui.flow_layout import FlowLayout
from gui.history import Entry
from gui.services import ModelInfo
from gui.tasks import Task, on_own_thread
from engine.durations import format_duration
from engine.jobs import Job, JobState
from engine.samplers import a1111_name

log = logging.getLogger(__name__)


class PreviewLabel(QLabel):
    """Keeps its image and scales it to whatever room the layout gives, never cropping."""

    def __init__(self, placeholder: str = "") -> None:
        super().__init__(placeholder)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(64, 64)
        self._placeholder = placeholder
        self._pixmap: Optional[QPixmap] = None

    def set_image(self, pixmap: Optional[QPixmap]) -> None:
        self._pixmap = pixmap
        if pixmap is None or pixmap.isNull():
            self.setPixmap(QPixmap())
            self.setText(self._placeholder)
        else:
            self._rescale()

    def current(self) -> Optional[QPixmap]:
        return self._pixmap

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._rescale()

    def _rescale(self) -> None:
        if self._pixmap is None or self._pixmap.isNull():
            return
        room = self.contentsRect().size() - QSize(4, 4)
        if room.width() < 8 or room.height() < 8:
            return
        # Previews are tiny (a few dozen pixels): scale them smoothly rather than as blocks.
        self.setPixmap(self._pixmap.scaled(room, Qt.AspectRatioMode.KeepAspectRatio,
                                           Qt.TransformationMode.SmoothTransformation))

    def sizeHint(self) -> QSize:
        # Never ask for the pixmap's own size: a large image would push the layout around.
        return QSize(256, 256)

    def minimumSizeHint(self) -> QSize:
        return self.minimumSize()


class Banner(QFrame):
    """A message across the top: errors stay until dismissed, notes can carry an action."""

    action = Signal()

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        self.title = QLabel()
        self.title.setObjectName("bannerTitle")
        self.text = QLabel()
        self.text.setObjectName("bannerText")
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.button = QPushButton()
        self.button.setObjectName("bannerAction")
        self.button.clicked.connect(self.action)
        close = QToolButton()
        close.setText("\u2715")
        close.setToolTip("Dismiss")
        close.clicked.connect(self.hide)
        column = QVBoxLayout()
        column.addWidget(self.title)
        column.addWidget(self.text)
        row = QHBoxLayout(self)
        row.addLayout(column, 1)
        row.addWidget(self.button, 0, Qt.AlignmentFlag.AlignTop)
        row.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.hide()

    def show_message(self, kind: str, title: str, text: str, action: str = "") -> None:
        self.setProperty("kind", kind)  # "error" or "info", styled by the stylesheet
        self.style().unpolish(self)
        self.style().polish(self)
        self.title.setText(title)
        self.title.setVisible(bool(title))
        self.text.setText(text)
        self.button.setText(action)
        self.button.setVisible(bool(action))
        self.show()

    @property
    def kind(self) -> str:
        return str(self.property("kind") or "")


class QueuePanel(QWidget):
    """Waiting jobs in run order (the running one shows above, in the progress area), and
    what can be done with them: reorder, remove, run an interrupted one again, pause, cancel all."""

    remove = Signal(int)
    move = Signal(int, int)
    retry = Signal(int)
    pause = Signal(bool)  # True: pause, False: resume
    cancel_all = Signal()

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.list = QListWidget()
        self.list.setObjectName("queueList")
        self.list.setMaximumHeight(120)
        self.header = QLabel("Queue is empty")
        self.header.setProperty("role", "caption")
        self.up = _tool("\u25b2", "Run earlier")
        self.down = _tool("\u25bc", "Run later")
        self.drop = _tool("Remove", "Take this job out of the queue")
        self.again = _tool("Run again", "Run this interrupted job again, first in line")
        self.again.setObjectName("runAgain")
        self.pause_button = _tool("Pause", "Finish the running job, then wait")
        self.pause_button.setObjectName("pauseQueue")
        self.pause_button.setCheckable(True)
        self.stop_all = _tool("Cancel all", "Empty the queue and stop the running job")
        buttons = QHBoxLayout()
        buttons.addWidget(self.header, 1)
        for b in (self.up, self.down, self.drop, self.again, self.pause_button, self.stop_all):
            buttons.addWidget(b)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(buttons)
        layout.addWidget(self.list)
        self._states: dict[int, JobState] = {}
        self.up.clicked.connect(lambda: self._act(lambda i: self.move.emit(i, -1)))
        self.down.clicked.connect(lambda: self._act(lambda i: self.move.emit(i, 1)))
        self.drop.clicked.connect(lambda: self._act(self.remove.emit))
        self.again.clicked.connect(lambda: self._act(self.retry.emit))
        self.pause_button.clicked.connect(lambda checked: self.pause.emit(bool(checked)))
        self.stop_all.clicked.connect(self.cancel_all)
        self.list.currentRowChanged.connect(self._update_buttons)
        self.set_jobs([])

    def selected_id(self) -> Optional[int]:
        item = self.list.currentItem()
        return None if item is None else item.data(Qt.ItemDataRole.UserRole)

    def _act(self, fn: Callable[[int], None]) -> None:
        job_id = self.selected_id()
        if job_id is not None:
            fn(job_id)

    def set_jobs(self, jobs: list[Job], paused: bool = False) -> None:
        keep = self.selected_id()
        self.list.clear()
        self._states = {job.id: job.state for job in jobs}
        for job in jobs:
            item = QListWidgetItem(job.describe())
            item.setData(Qt.ItemDataRole.UserRole, job.id)
            self.list.addItem(item)
            if job.id == keep:
                self.list.setCurrentItem(item)
        text = f"Queue: {len(jobs)} waiting" if jobs else "Queue is empty"
        self.header.setText(text + (" (paused)" if paused else ""))
        self.pause_button.setChecked(paused)
        self.pause_button.setText("Resume" if paused else "Pause")
        for w in (self.list, self.up, self.down, self.drop, self.again, self.stop_all):
            w.setVisible(bool(jobs))
        self._update_buttons()

    def _update_buttons(self, *_args) -> None:
        row = self.list.currentRow()
        self.up.setEnabled(row > 0)
        self.down.setEnabled(0 <= row < self.list.count() - 1)
        self.drop.setEnabled(row >= 0)
        self.again.setEnabled(self._states.get(self.selected_id()) is JobState.INTERRUPTED)


def _tool(text: str, tip: str) -> QToolButton:
    button = QToolButton()
    button.setText(text)
    button.setToolTip(tip)
    return button


class DetailsPane(QWidget):
    """Everything about one image, and what can be done with it."""

    reuse = Signal(object)  # Entry
    to_source = Signal(object, bool)  # Entry, and True to paint a mask (Inpaint)
    favorite = Signal(object, bool)
    delete = Signal(object)
    export = Signal(object)
    open_failed = Signal(str, str)  # title, message: shown by the window, not on stderr

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.entry: Optional[Entry] = None
        self.image = PreviewLabel("Select an image to see how it was made.")
        self.image.setObjectName("detailsImage")
        self.image.setMinimumHeight(80)  # at 900x600 the gallery above needs the room
        self.info = QPlainTextEdit()
        self.info.setObjectName("detailsText")
        self.info.setReadOnly(True)
        self.info.setMaximumHeight(130)
        self.copy_button = QPushButton("Copy prompt")
        self.reuse_button = QPushButton("Reuse parameters")
        self.reuse_button.setObjectName("reuseButton")
        self.reuse_button.setToolTip("Fill the form with this image's settings, seed included")
        self.favorite_button = QPushButton("\u2606 Favorite")
        self.favorite_button.setCheckable(True)
        self.img2img_button = QPushButton("To image to image")
        self.img2img_button.setObjectName("sendToSource")
        self.img2img_button.setToolTip("Send to image to image: start from this image")
        self.inpaint_button = QPushButton("Inpaint\u2026")
        self.inpaint_button.setObjectName("inpaintButton")
        self.inpaint_button.setToolTip("Start from this image and paint what to repaint")
        self.open_button = QPushButton("Open")
        self.folder_button = QPushButton("Show in folder")
        self.export_button = QPushButton("Export\u2026")
        self.delete_button = QPushButton("Delete")
        self.delete_button.setProperty("role", "danger")
        # Rows that wrap: in a narrow pane a button moves down instead of losing its label.
        self.buttons = QWidget()
        flow = FlowLayout(self.buttons)
        for b in (self.reuse_button, self.copy_button, self.favorite_button, self.img2img_button,
                  self.inpaint_button, self.open_button, self.folder_button, self.export_button,
                  self.delete_button):
            flow.addWidget(b)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.image, 1)
        layout.addWidget(self.info)
        layout.addWidget(self.buttons)
        self.copy_button.clicked.connect(self._copy)
        self.reuse_button.clicked.connect(lambda: self.entry and self.reuse.emit(self.entry))
        self.img2img_button.clicked.connect(lambda: self.entry and self.to_source.emit(self.entry, False))
        self.inpaint_button.clicked.connect(lambda: self.entry and self.to_source.emit(self.entry, True))
        self.favorite_button.clicked.connect(
            lambda checked: self.entry and self.favorite.emit(self.entry, checked))
        self.delete_button.clicked.connect(lambda: self.entry and self.delete.emit(self.entry))
        self.export_button.clicked.connect(lambda: self.entry and self.export.emit(self.entry))
        self.open_button.clicked.connect(self._open)
        self.folder_button.clicked.connect(self._show_folder)
        self.show_entry(None)

    def show_entry(self, entry: Optional[Entry], pixmap: Optional[QPixmap] = None) -> None:
        self.entry = entry
        for b in (self.copy_button, self.reuse_button, self.favorite_button, self.open_button,
                  self.folder_button, self.export_button, self.delete_button, self.img2img_button,
                  self.inpaint_button):
            b.setEnabled(entry is not None)
        self.info.setVisible(entry is not None)
        if entry is None:
            self.image.set_image(None)
            self.info.setPlainText("")
            return
        self.image.set_image(pixmap)
        r = entry.request
        lines = [r.prompt]
        if r.negative_prompt:
            lines.append(f"Negative prompt: {r.negative_prompt}")
        lines.append(f"Seed {r.seed} \u00b7 {a1111_name(r.sampler)}, {r.steps} steps \u00b7 "
                     f"guidance {r.guidance:g} \u00b7 "
                     f"{r.width}\u00d7{r.height}")
        if r.source is not None:
            lines.append(source_line(r.source))
        lines.append(f"{entry.model_label} \u00b7 {entry.when}"
                     + (" \u00b7 mixed precision" if r.mixed_precision else "")
                     + (" \u00b7 XLA" if r.xla else ""))
        lines.append(str(entry.path))
        self.info.setPlainText("\n".join(lines))
        self.favorite_button.setChecked(entry.favorite)
        self.favorite_button.setText("\u2605 Favorite" if entry.favorite else "\u2606 Favorite")

    def _open(self) -> None:
        if self.entry is not None and not open_path(self.entry.path):
            self.open_failed.emit("Cannot open the image",
                                  f"No application opened {self.entry.path}.")

    def _show_folder(self) -> None:
        if self.entry is not None and not show_in_folder(self.entry.path):
            self.open_failed.emit("Cannot show the folder",
                                  f"No file manager opened {self.entry.path.parent}.")

    def _copy(self) -> None:
        if self.entry is not None:
            QGuiApplication.clipboard().setText(self.entry.request.prompt)


def source_line(source) -> str:
    """How an image to image result was made, in the details (issue 31: it was not said)."""
    parts = [f"Image to image \u00b7 strength {source.strength:g}"]
    if source.mask is not None:
        parts.append(f"inpainted (mask blur {source.mask_blur} px)")
    if any(source.outpaint):
        left, top, right, bottom = source.outpaint
        parts.append(f"outpainted {left}, {top}, {right}, {bottom} px (left, top, right, bottom)")
    return " \u00b7 ".join(parts)


def open_path(path: Path) -> bool:
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))


def show_in_folder(path: Path) -> bool:
    """Selects the file where the platform can; elsewhere opens its folder. False: nothing opened."""
    path = Path(path)
    try:
        if sys.platform == "win32":
            subprocess.Popen(["explorer", "/select,", str(path)])
            return True
        if sys.platform == "darwin":
            subprocess.Popen(["open", "-R", str(path)])
            return True
    except OSError:
        pass
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(path.parent)))


class FirstRunPanel(QFrame):
    """Shown when the chosen model has no weights: download, import, or try the demo."""

    installed = Signal(str)  # model id, after a download or import
    use_demo = Signal()
    import_requested = Signal(str)  # model id
    # A download or import that failed or left files out: (title, message), which the window
    # shows as an error dialog (the panel may not even be on screen for File > Import).
    failed = Signal(str, str)

    def __init__(self, download: Optional[Callable] = None, import_folder: Optional[Callable] = None,
                 parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setObjectName("firstRun")
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
        self.import_button.clicked.connect(lambda: self.model and self.import_requested.emit(self.model.id))
        self.demo_button.clicked.connect(self.use_demo)
        self._set_busy(False)

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
                self.failed.emit("Import incomplete",
                                 f"{self._target.label} is not ready: not every file was "
                                 f"imported.\n\n{summary}")
                return
        else:
            self.status.setText("Download complete.")
        self.installed.emit(self._target.id)

    def _on_failed(self, message: str) -> None:
        self.status.setText(f"{self._task.capitalize()} failed: {message}")
        what = "imported" if self._task == "import" else "downloaded"
        self.failed.emit(f"{self._task.capitalize()} failed",
                         f"{self._target.label} could not be {what}.\n\n{message}")
