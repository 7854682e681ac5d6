"""The main window: the form on the left, progress and preview in the middle, the gallery on the right."""
from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Optional

from PySide6.QtCore import QByteArray, QEvent, QMetaObject, QSettings, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QImage, QKeySequence, QPixmap, QShortcut
from PySide6.QtWidgets import (QApplication, QCheckBox, QFileDialog, QHBoxLayout, QLabel, QLineEdit, QListView,
                               QMainWindow, QMessageBox, QProgressBar, QPushButton, QScrollArea, QSplitter,
                               QStackedWidget, QVBoxLayout, QWidget)

from engine import preferences
from engine.examples import examples_for
from gui.clamped_label import ClampedLabel
from gui.help_dialogs import show_demo_words
from gui.model_note import ModelNote
from gui.folders import remember_folder, start_folder
from gui.form import GenerationForm
from gui.gallery import GalleryModel, ThumbnailLoader, UntintedThumbnails
from gui.history import Entry
from gui.menus import build_menus
from gui.preferences import compute_status
from gui.banner import Banner
from gui.details_pane import DetailsPane
from gui.first_run import FirstRunPanel
from gui.preview_label import PreviewLabel
from gui.queue_panel import QueuePanel
from engine.models.registry import DEMO
from engine.prompt_rules import PromptRules, rules_for
from gui.services import ModelInfo, Services
from engine.durations import format_duration
from engine.jobs import (Cancelled, EngineFailed, EngineLoading, EngineReady, Failed, Finished,
                         JobProgress, JobQueue, JobState, Queued, QueueChanged, Started)
from gui.worker import GenerationWorker, WorkerHost

log = logging.getLogger(__name__)
SAVE_ELSEWHERE = "Save elsewhere\u2026"
RESUME = "Resume the queue"
USE_AS_SOURCE = "Use as source image"

STATE_MARKS = {"installed": "\u2713", "unverified": "\u2713", "missing": "\u2193 not installed",
               "partial": "\u2193 download incomplete", "corrupt": "\u26a0 damaged",
               "unknown": ""}


def model_text(info: ModelInfo) -> str:
    mark = STATE_MARKS.get(info.state, info.state)
    return f"{info.label}  {mark}".strip()


class MainWindow(QMainWindow):
    # After the window has shown a job's end: tests and the self-test wait on this,
    # not on the worker's signals, whose other receivers may not have run yet.
    job_over = Signal(int, str)  # job id, "finished" / "failed" / "cancelled"
    jobs_removed = Signal(list)  # ids of waiting jobs taken out of the queue, which never end

    def __init__(self, services: Services, settings: QSettings, load_engine_now: bool = True) -> None:
        super().__init__()
        self.setObjectName("mainWindow")
        self.setWindowTitle("SD Desk")
        self.setAcceptDrops(True)
        self.services = services
        self.settings = settings
        self.device = ""
        self.current_job: Optional[int] = None  # the running job, as far as the window has heard
        self.unsaved: list = []  # results the history could not keep (a full or read-only disk)
        self._closing = False
        self._undo: list[list[Entry]] = []  # each delete's images, newest last
        self._models: dict[str, ModelInfo] = {}
        self.batch_runs: list = []  # gui.batch_dialog.BatchRun, one per queued batch

        self.banner = Banner()
        self.form = GenerationForm([], sources=services.sources)
        self.form.source_panel.settings = settings
        self._generating = None  # the request waiting for its source image to be prepared
        self._dropped: Optional[Path] = None  # a PNG without a recipe, offered as a source
        self.generate_button = QPushButton("Generate")
        self.generate_button.setObjectName("generateButton")
        self.generate_button.setToolTip("Generate (Ctrl+Enter)")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelButton")
        self.cancel_button.setToolTip("Stop the running generation (Esc)")
        self.cancel_button.setEnabled(False)
        # Two lines, kept when there is nothing to say: Generate stays where it is.
        self.why_disabled = ClampedLabel(2)
        self.why_disabled.setObjectName("whyDisabled")
        self.why_disabled.setProperty("role", "fieldError")

        self.model_note = ModelNote()
        self.model_note.words_requested.connect(lambda: show_demo_words(self))
        self.preview = PreviewLabel("Your image appears here.\n\nWrite a prompt and press Ctrl+Enter.")
        self.preview.setObjectName("preview")
        self.preview.setMinimumSize(256, 256)
        self.phase = QLabel("Idle")
        self.phase.setObjectName("phase")
        self.progress_bar = QProgressBar()
        self.progress_bar.setObjectName("progress")
        self.progress_bar.setTextVisible(False)
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.queue_panel = QueuePanel()
        self.first_run = FirstRunPanel(services.download, services.import_folder)
        self.center_stack = QStackedWidget()
        self.center_stack.addWidget(self.preview)
        self.center_stack.addWidget(self.first_run)

        self.search = QLineEdit()
        self.search.setObjectName("search")
        self.search.setPlaceholderText("Search prompts\u2026")
        self.search.setClearButtonEnabled(True)
        self.favorites_only = QCheckBox("Favorites")
        self.favorites_only.setObjectName("favoritesOnly")
        self.gallery_view = QListView()
        self.gallery_view.setObjectName("gallery")
        self.gallery_count = QLabel()
        self.gallery_count.setProperty("role", "hint")
        self.details = DetailsPane()

        self.thumbs = ThumbnailLoader(parent=self)
        self.store = None
        self.gallery: Optional[GalleryModel] = None
        self._open_gallery()

        self._build_layout()
        self.device_label = QLabel("Starting the engine\u2026")
        self.device_label.setObjectName("deviceLabel")
        self.statusBar().addPermanentWidget(self.device_label)

        self.refresh_models()
        self.form.load_settings(settings)
        if preferences.default_model():
            # A default chosen in Edit > Preferences beats the model the form last used.
            self.form.select_model(self._default_model(self.models()))
        self._restore_geometry()

        self.worker = GenerationWorker(services.engine_factory, services.history_factory,
                                       self._open_queue(), warm_models=tuple(self._models))
        self._connect()
        # The engine (TensorFlow) starts loading only once the first frame is painted:
        # an import holds the GIL in long stretches and would delay the window itself.
        self._load_engine_when_shown = load_engine_now
        self.host = WorkerHost(self.worker, load_engine_now=False)
        self._update_generate()
        self._update_first_run()
        self._refresh_queue()
        self._offer_leftover_jobs()
        QApplication.instance().installEventFilter(self)

    # ---- construction --------------------------------------------------------------------

    def _open_gallery(self) -> None:
        if self.services.history_factory is None:
            return
        try:
            self.store = self.services.history_factory()
        except Exception as error:  # noqa: BLE001 - the window works without a gallery
            log.exception("history store failed to open")
            self.banner.show_message("error", "History unavailable", str(error))
            return
        self.gallery = GalleryModel(self.store, self.thumbs, self)
        self.gallery_view.setModel(self.gallery)

    def _open_queue(self) -> JobQueue:
        """The queue in the history's database, so a crash or a close loses no job; in memory
        when the window has no history (or it cannot be opened)."""
        if self.services.queue_path is not None:
            try:
                return JobQueue(self.services.queue_path)
            except Exception as error:  # noqa: BLE001 - the window works with a queue in memory
                log.exception("job queue failed to open")
                self.banner.show_message("error", "Queue not kept",
                                         f"Jobs will not survive a restart: {error}")
        return JobQueue()

    def _offer_leftover_jobs(self) -> None:
        """Jobs from the last session wait for the person: what stopped the app may stop it again."""
        left = self.worker.queue.waiting()
        if not left:
            return
        if not self.worker.queue.paused:
            self.worker.queue.pause()
        interrupted = sum(1 for job in left if job.state is JobState.INTERRUPTED)
        note = f" ({interrupted} interrupted: select it and press Run again)" if interrupted else ""
        self.banner.show_message("info", "", f"{len(left)} job(s) from the last session are "
                                 f"waiting{note}.", action=RESUME)

    def _build_layout(self) -> None:
        left = QWidget()
        lv = QVBoxLayout(left)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.form)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        # The form fits its column's width; only a short window scrolls it, vertically.
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        lv.addWidget(scroll, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.generate_button, 1)
        buttons.addWidget(self.cancel_button)
        lv.addLayout(buttons)
        lv.addWidget(self.why_disabled)
        lv.addWidget(self.model_note)

        center = QWidget()
        cv = QVBoxLayout(center)
        cv.addWidget(self.banner)
        cv.addWidget(self.center_stack, 1)
        cv.addWidget(self.phase)
        cv.addWidget(self.progress_bar)
        cv.addWidget(self.queue_panel)

        v = self.gallery_view
        v.setViewMode(QListView.ViewMode.IconMode)
        v.setResizeMode(QListView.ResizeMode.Adjust)
        v.setMovement(QListView.Movement.Static)
        v.setUniformItemSizes(True)  # lets the view skip measuring 10,000 rows
        v.setLayoutMode(QListView.LayoutMode.Batched)
        v.setBatchSize(200)
        v.setIconSize(QSize(self.thumbs.size, self.thumbs.size))
        v.setGridSize(QSize(self.thumbs.size + 16, self.thumbs.size + 36))
        v.setWordWrap(False)
        v.setTextElideMode(Qt.TextElideMode.ElideRight)
        v.setSelectionMode(QListView.SelectionMode.ExtendedSelection)
        v.setDragEnabled(True)  # images dragged out to other apps as files
        v.setDragDropMode(QListView.DragDropMode.DragOnly)
        v.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        v.setItemDelegate(UntintedThumbnails(v))
        right_top = QWidget()
        rv = QVBoxLayout(right_top)
        rv.setContentsMargins(0, 0, 0, 0)
        search_row = QHBoxLayout()
        search_row.addWidget(self.search, 1)
        search_row.addWidget(self.favorites_only)
        rv.addLayout(search_row)
        rv.addWidget(v, 1)
        rv.addWidget(self.gallery_count)
        self.right = QSplitter(Qt.Orientation.Vertical)
        self.right.addWidget(right_top)
        self.right.addWidget(self.details)
        self.right.setStretchFactor(0, 3)
        self.right.setStretchFactor(1, 2)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("mainSplitter")
        self.splitter.addWidget(left)
        self.splitter.addWidget(center)
        self.splitter.addWidget(self.right)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setStretchFactor(2, 2)
        self.splitter.setSizes([380, 560, 520])
        # A dragged splitter once collapsed the centre column (preview, progress, queue)
        # out of reach; every pane keeps a usable width instead.
        for pane, width in ((left, 330), (center, 300), (self.right, 250)):
            pane.setMinimumWidth(width)
        for index in range(self.splitter.count()):
            self.splitter.setCollapsible(index, False)
        for index in range(self.right.count()):
            self.right.setCollapsible(index, False)
        self.setMinimumSize(900, 600)
        self.setCentralWidget(self.splitter)
        self._update_gallery_count()

    def open_benchmark(self) -> None:
        from gui.benchmark_dialog import BenchmarkDialog
        # One dialog for the window's life: its task object may still be on the worker thread.
        if getattr(self, "benchmark_dialog", None) is None:
            self.benchmark_dialog = BenchmarkDialog(self.worker, self.models(), self,
                                                  preferred=self.form.model_id())
        self.benchmark_dialog.show()
        self.benchmark_dialog.raise_()

    def open_model_manager(self) -> None:
        from gui.model_manager import ModelManager
        if getattr(self, "model_manager", None) is None:
            self.model_manager = ModelManager(self)
            self.model_manager.changed.connect(self.refresh_models)
        else:
            self.model_manager.reload()
        self.model_manager.show()
        self.model_manager.raise_()

    def open_batch(self) -> None:
        from gui.batch_dialog import open_batch_dialog
        self.batch_dialog = open_batch_dialog(self)

    def _connect(self) -> None:
        # A bound method: a lambda connected to the worker's signal would run on the worker thread.
        self.worker.event.connect(self._on_event)

        self.form.changed.connect(self._update_generate)
        self.form.model.currentIndexChanged.connect(lambda *_: self._update_first_run())
        self.form.submit_requested.connect(self.generate)
        self.generate_button.clicked.connect(self.generate)
        self.cancel_button.clicked.connect(self.cancel)
        for keys in ("Ctrl+Return", "Ctrl+Enter"):
            QShortcut(QKeySequence(keys), self, activated=self.generate)
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self, activated=self.cancel)
        self.menu_actions = build_menus(self)
        # Through the window's own methods: a slot of the worker object would be queued
        # to the worker's thread, which is busy inside generate() until the job ends.
        self.queue_panel.remove.connect(self.remove_job)
        self.queue_panel.move.connect(self.move_job)
        self.queue_panel.retry.connect(self.retry_job)
        self.queue_panel.pause.connect(self.set_paused)
        self.queue_panel.cancel_all.connect(self.cancel_all)

        self._search_timer = QTimer(self, singleShot=True, interval=250)
        self._search_timer.timeout.connect(self._apply_filters)
        self.search.textChanged.connect(lambda *_: self._search_timer.start())
        self.favorites_only.toggled.connect(lambda *_: self._apply_filters())
        self.gallery_view.selectionModel() and self.gallery_view.selectionModel().currentChanged.connect(
            lambda current, _previous: self._show_details(current.row()))
        self.gallery_view.doubleClicked.connect(lambda index: self.open_viewer(index.row()))
        self.gallery_view.customContextMenuRequested.connect(self._gallery_menu)
        QShortcut(QKeySequence.StandardKey.Delete, self.gallery_view,
                  activated=lambda: self.delete_entries(self.selected_entries()))
        QShortcut(QKeySequence.StandardKey.Copy, self.gallery_view,
                  activated=self._copy_selected_image)
        self.details.reuse.connect(self.reuse)
        self.details.to_source.connect(lambda entry, inpaint: self.use_as_source(entry.path, inpaint))
        self.details.favorite.connect(self.set_favorite)
        self.details.delete.connect(lambda entry: self.delete_entries([entry]))
        self.details.export.connect(lambda entry: self.export_entries([entry]))
        self.details.open_failed.connect(self.show_error)
        self.banner.action.connect(self._on_banner_action)
        self.first_run.installed.connect(self._on_weights_installed)
        self.first_run.failed.connect(self.show_error_dialog)
        self.first_run.use_demo.connect(lambda: self.form.select_model(DEMO.id))
        self.first_run.import_requested.connect(self._import_folder)
        if self.gallery is not None:
            self.gallery.rowsInserted.connect(lambda *_: self._update_gallery_count())
            self.gallery.rowsRemoved.connect(lambda *_: self._update_gallery_count())
            self.gallery.modelReset.connect(self._update_gallery_count)

    # ---- models --------------------------------------------------------------------------

    def refresh_models(self) -> None:
        try:
            infos = self.services.models()
        except Exception as error:  # noqa: BLE001
            log.exception("listing models failed")
            infos = []
            self.banner.show_message("error", "Models unavailable", str(error))
        self._models = {m.id: m for m in infos}
        chosen = self.form.model_id()
        self.form.set_models([(m.id, model_text(m)) for m in infos])
        if not chosen:
            self.form.select_model(self._default_model(infos))
        for m in infos:
            note = "" if m.usable else m.summary
            self.form.set_model_text(m.id, model_text(m), note)
        self._update_first_run()
        self._update_generate()

    def _default_model(self, infos: list[ModelInfo]) -> str:
        """engine.default_model's rule, from the states the model list already holds."""
        from engine.default_model import default_model_id
        present = {m.id for m in infos if m.has_files}
        chosen = default_model_id(has_files=present.__contains__)
        listed = [m.id for m in infos]
        return chosen if chosen in listed else (listed[0] if listed else "")

    def chosen_model(self) -> Optional[ModelInfo]:
        return self._models.get(self.form.model_id())

    def models(self) -> list[ModelInfo]:
        return list(self._models.values())

    def import_weights(self) -> None:
        """File > Import Weights: for the chosen model when it needs weights, else the first
        that does, else the chosen (or first) Stable Diffusion model, to re-import it."""
        chosen = self.chosen_model()
        weighted = [m for m in self._models.values() if m.id != DEMO.id]
        candidates = ([chosen] if chosen is not None and chosen.id != DEMO.id and not chosen.usable
                      else []) + [m for m in weighted if not m.usable]
        candidates += [chosen] if chosen is not None and chosen.id != DEMO.id else []
        candidates += weighted
        if candidates:
            self._import_folder(candidates[0].id)

    def _update_first_run(self) -> None:
        model = self.chosen_model()
        if model is not None:
            examples = examples_for(model.id)
            self.form.set_examples(examples.prompt, examples.negative)
            self.model_note.show_about(examples.about, examples.words is not None)
        needs_weights = model is not None and not model.usable
        if needs_weights:
            self.first_run.set_model(model, DEMO.id in self._models)
        self.center_stack.setCurrentWidget(self.first_run if needs_weights else self.preview)
        self._update_generate()

    def _import_folder(self, model_id: str) -> None:
        model = self._models.get(model_id)
        if model is None:
            return
        if self.first_run.busy:
            self.show_error_dialog("Import not started",
                                   "A download or import is already running; wait for it to end.")
            return
        folder = QFileDialog.getExistingDirectory(
            self, f"Folder that holds the weight files for {model.label}", start_folder(self.settings))
        if folder:
            remember_folder(self.settings, Path(folder))
            # Hashing gigabytes happens on the panel's own thread, never here.
            self.first_run.start_import(Path(folder), model)

    def _on_weights_installed(self, model_id: str) -> None:
        self.refresh_models()
        model = self._models.get(model_id)
        self.statusBar().showMessage(f"{model.label if model else model_id} is ready.", 8000)

    # ---- generating ----------------------------------------------------------------------

    def why_not(self) -> str:
        """Why Generate is disabled, in words; empty when it is enabled."""
        problems = self.form.problems()
        if problems:
            first = problems[0].message
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            return first + more
        model = self.chosen_model()
        if model is not None and not model.usable:
            return f"{model.label} has no weights yet: download or import them, or pick another model."
        if self._closing:
            return "Closing\u2026"
        return ""

    def _update_generate(self, *_args) -> None:
        reason = self.why_not()
        self.generate_button.setEnabled(not reason)
        self.why_disabled.setProperty("tone", "hint" if self.form.only_missing_prompt() else "error")
        self.why_disabled.style().unpolish(self.why_disabled)
        self.why_disabled.style().polish(self.why_disabled)
        self.why_disabled.setText(reason)
        self.why_disabled.setVisible(bool(reason))
        self.generate_button.setToolTip(reason or "Generate (Ctrl+Enter)")
        busy = self.current_job is not None
        self.generate_button.setText("Add to queue" if busy else "Generate")
        self.cancel_button.setEnabled(busy)

    def generate(self) -> Optional[int]:
        self.form.revalidate()
        self._update_generate()
        if not self.generate_button.isEnabled():
            return None
        if not self.form.seed.locked:
            # Unlocked means a fresh seed per Generate, written into the field so it is never a mystery.
            self.form.seed.randomize()
        request = self.form.request()
        if self.form.revalidate():
            return None
        if request.source is None:
            return self.enqueue([request])[0]
        # The painted mask and the settings go through prepare(), on the panel's thread;
        # the job is queued when it is done (_source_prepared).
        self._generating = request
        self.form.source_panel.prepare_for_generate(self._source_prepared)
        return None

    def _source_prepared(self, prepared, problem: str) -> None:
        request, self._generating = self._generating, None
        if request is None:
            return
        if prepared is None:
            if problem:
                self.show_error("Source image not usable", problem)
            self._update_generate()
            return
        self.enqueue([request.replace(source=prepared.source, width=prepared.width,
                                      height=prepared.height)])
        self._update_generate()

    def use_as_source(self, path: Path, inpaint: bool = False) -> None:
        """"Send to image to image" and "Inpaint": the image becomes the form's source."""
        self.form.source_panel.open_file(Path(path), edit_mask=inpaint)
        self.statusBar().showMessage(f"Source image: {Path(path).name}", 5000)

    def enqueue(self, requests: list) -> list[int]:
        """Puts each request on the queue, in order, and lets the worker go on; their ids."""
        ids = [self.worker.queue.add(request).id for request in requests]
        self.worker.wake()
        return ids

    def remove_job(self, job_id: int) -> None:
        if self.worker.queue.remove(job_id):
            self.jobs_removed.emit([job_id])

    def move_job(self, job_id: int, delta: int) -> None:
        self.worker.queue.move(job_id, delta)

    def retry_job(self, job_id: int) -> None:
        """Runs an interrupted job again, first in line."""
        if self.worker.queue.retry(job_id):
            self.worker.wake()

    def set_paused(self, paused: bool) -> None:
        if paused:
            self.worker.queue.pause()
        else:
            self.worker.queue.resume()
            self.worker.wake()

    def cancel_all(self) -> None:
        count = self.unfinished_jobs()
        if count > 1 and not self.confirm_cancel_all(count):  # one job goes as Esc's would
            return
        removed = self.worker.runner.cancel_all()
        if removed:
            self.jobs_removed.emit(removed)

    def cancel(self) -> None:
        # Asks the runner, not self.current_job: its "started" may still be on its way here.
        if self.worker.runner.cancel():
            self.phase.setText("Cancelling after this step\u2026")

    def _on_event(self, event, images: list) -> None:
        """Every job and engine event, on the GUI thread."""
        if isinstance(event, (Queued, QueueChanged)):
            self._refresh_queue()
        elif isinstance(event, Started):
            self._on_started(event.job_id)
        elif isinstance(event, JobProgress):
            self._on_progress(event, images)
        elif isinstance(event, Finished):
            self._on_finished(event, images)
        elif isinstance(event, Failed):
            self._on_failed(event.job_id, event.title, event.message)
        elif isinstance(event, Cancelled):
            self._on_cancelled(event.job_id)
        elif isinstance(event, EngineLoading):
            self.device_label.setText("Loading the engine\u2026")
        elif isinstance(event, EngineReady):
            self._on_engine_ready(event)
        elif isinstance(event, EngineFailed):
            self.device_label.setText("Engine unavailable")
            self.banner.show_message("error", event.title, event.message)

    def _on_engine_ready(self, event: EngineReady) -> None:
        self.device = event.device
        engine = self.worker.engine
        self.device_label.setText(f"Engine ready \u00b7 {compute_status(event.backend, event.device)}")
        self.form.set_prompt_rules(lambda model_id: _with_engine_counter(model_id, engine))
        self._update_generate()

    def _refresh_queue(self) -> None:
        self.queue_panel.set_jobs(self.worker.queue.waiting(), self.worker.queue.paused)

    def _on_started(self, job_id: int) -> None:
        self.current_job = job_id
        self._refresh_queue()
        self.phase.setText("Starting\u2026")
        self.progress_bar.setRange(0, 0)
        if self.center_stack.currentWidget() is not self.preview:
            self.center_stack.setCurrentWidget(self.preview)
        self._update_generate()

    def _on_progress(self, p: JobProgress, images: list) -> None:
        if p.job_id != self.current_job:
            return
        if images:
            self.preview.set_image(QPixmap.fromImage(images[0]))
        self.phase.setText(p.describe())
        if p.phase == "denoising" and p.total:
            self.progress_bar.setRange(0, p.total)
            self.progress_bar.setValue(p.step)
        elif p.phase in ("decoding", "saving"):
            self.progress_bar.setRange(0, max(1, p.total))
            self.progress_bar.setValue(p.total)
        else:
            self.progress_bar.setRange(0, 0)  # busy: loading and encoding have no steps

    def _job_over(self, text: str) -> None:
        self.current_job = None
        self.phase.setText(text)
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self._update_generate()
        self._update_first_run()

    def _on_finished(self, outcome: Finished, images: list) -> None:
        if outcome.unsaved:
            self.unsaved.append(outcome.result)
            self.banner.show_message(
                "error", "Not saved to the history",
                f"{outcome.unsaved}\nThe images are kept in this window until it closes.",
                action=SAVE_ELSEWHERE)
        if images:
            self.preview.set_image(QPixmap.fromImage(images[0]) if len(images) == 1
                                   else QPixmap.fromImage(_tile(images)))
        n = len(images)
        self._job_over(f"Done: {n} image{'s' if n != 1 else ''} in {format_duration(outcome.seconds)}")
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(1)
        if self.gallery is not None:
            self.gallery.add_newest()
            if outcome.entry_ids:
                row = self.gallery.row_of(outcome.entry_ids[0])
                if row >= 0:
                    self.gallery_view.setCurrentIndex(self.gallery.index(row))
                    self.gallery_view.scrollTo(self.gallery.index(row))
        self.job_over.emit(outcome.job_id, "finished")

    def _on_failed(self, job_id: int, title: str, message: str) -> None:
        self.banner.show_message("error", title, message)
        if job_id == self.current_job:
            self._job_over(f"Failed: {title}")
        self.job_over.emit(job_id, "failed")

    def _on_cancelled(self, job_id: int) -> None:
        if job_id == self.current_job:
            self._job_over("Cancelled")
            self.preview.set_image(None)  # not the blurry partial image, as if it were a result
        self.job_over.emit(job_id, "cancelled")

    # ---- gallery -------------------------------------------------------------------------

    def _apply_filters(self) -> None:
        if self.gallery is not None:
            self.gallery.set_filters(self.search.text().strip(), self.favorites_only.isChecked())
            self.details.show_entry(None)

    def _update_gallery_count(self) -> None:
        if self.gallery is None:
            self.gallery_count.setText("History is not available in this build.")
            return
        total = self.gallery.total
        filtered = bool(self.gallery.text or self.gallery.favorites)
        self.gallery_count.setText(
            f"{total} image{'s' if total != 1 else ''}" + (" match" if filtered else "")
            if total else ("Nothing matches." if filtered else
                           "No images yet: what you make is kept here."))

    def _show_details(self, row: int) -> None:
        entry = self.gallery.entry(row) if self.gallery is not None else None
        if entry is not None and not entry.complete:
            entry = self.store.get(entry.id) or entry
        pixmap = None
        if entry is not None:
            # One image at a time, on a click: cheap enough to read here.
            image = QImage(str(entry.path))
            if not image.isNull():
                pixmap = QPixmap.fromImage(image)
        self.details.show_entry(entry, pixmap)
        if pixmap is not None and not self.worker_busy():
            # The big view shows the chosen image until the next job's live preview.
            self.center_stack.setCurrentWidget(self.preview)
            self.preview.set_image(pixmap)

    def worker_busy(self) -> bool:
        return self.cancel_button.isEnabled()

    def full_entry(self, entry: Entry) -> Entry:
        """A gallery row with its whole recipe (rows are read without it)."""
        if entry.complete or self.store is None:
            return entry
        return self.store.get(entry.id) or entry

    def selected_entries(self) -> list[Entry]:
        if self.gallery is None or self.gallery_view.selectionModel() is None:
            return []
        rows = sorted({index.row() for index in self.gallery_view.selectionModel().selectedIndexes()})
        return [e for e in (self.gallery.entry(row) for row in rows) if e is not None]

    def open_viewer(self, row: int) -> None:
        from gui.viewer import ImageViewer
        if self.gallery is None or self.gallery.entry(row) is None:
            return

        def entry_at(index: int):
            while index >= self.gallery.rowCount() and self.gallery.canFetchMore():
                self.gallery.fetchMore()
            entry = self.gallery.entry(index)
            return None if entry is None else (entry.path, entry.title)

        self.viewer = ImageViewer(lambda: self.gallery.total, entry_at, row, self)
        self.viewer.show()

    def _gallery_menu(self, position) -> None:
        from gui.gallery_menu import gallery_menu
        index = self.gallery_view.indexAt(position)
        if index.isValid() and not self.gallery_view.selectionModel().isSelected(index):
            self.gallery_view.setCurrentIndex(index)
        self.gallery_context_menu = gallery_menu(self)
        self.gallery_context_menu.popup(self.gallery_view.viewport().mapToGlobal(position))

    def _copy_selected_image(self) -> None:
        from gui.gallery_menu import copy_image
        entries = self.selected_entries()
        if len(entries) == 1:
            copy_image(self, entries[0])

    def show_error(self, title: str, message: str) -> None:
        self.banner.show_message("error", title, message)

    def show_error_dialog(self, title: str, message: str) -> QMessageBox:
        """An error the person must see even with the panel that caused it off screen: a
        window-modal box, opened without blocking (the event loop, and the tests, go on)."""
        box = QMessageBox(QMessageBox.Icon.Critical, title, message, QMessageBox.StandardButton.Ok, self)
        box.setObjectName("errorDialog")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        return box

    def show_entry_in_folder(self, entry: Entry) -> None:
        from gui.desktop import show_in_folder
        if not show_in_folder(entry.path):
            self.show_error("Cannot show the folder", f"No file manager opened {entry.path.parent}.")

    def selected_entry(self) -> Optional[Entry]:
        """The selected image with its whole recipe."""
        return self.details.entry

    def reuse(self, entry: Entry) -> None:
        request = entry.request
        if request.model not in self._models:
            request = request.replace(model=self.form.model_id())
        self.form.set_request(request)
        self.form.seed.lock.setChecked(True)  # reusing a seed only means something if it stays
        self.statusBar().showMessage(f"Form filled from image {entry.id}, seed {request.seed} locked.", 5000)

    def set_favorite(self, entry: Entry, value: bool) -> None:
        self.set_favorites([entry], value)

    def set_favorites(self, entries: list[Entry], value: bool) -> None:
        for entry in entries:
            self.store.set_favorite(entry.id, value)
            self.gallery.refresh_entry(entry.id)
        self._show_details(self.gallery_view.currentIndex().row())

    def delete_entries(self, entries: list[Entry]) -> None:
        """Moves them to the trash; one Undo brings the whole group back."""
        if not entries:
            return
        for entry in entries:
            self.store.delete(entry.id)
            self.gallery.remove_entry(entry.id)
        self._undo.append(list(entries))
        self._show_details(self.gallery_view.currentIndex().row())
        what = f"\u201c{entries[0].title}\u201d" if len(entries) == 1 else f"{len(entries)} images"
        self.banner.show_message("info", "", f"Deleted {what}.", "Undo")

    def undo_delete(self) -> None:
        if not self._undo:
            return
        group = self._undo.pop()
        for entry in group:
            self.store.undo_delete(entry.id)
        self.gallery.reload()
        self.banner.hide()
        selection = self.gallery_view.selectionModel()
        selection.clearSelection()
        for entry in group:
            row = self.gallery.row_of(entry.id)
            if row >= 0:
                selection.select(self.gallery.index(row), selection.SelectionFlag.Select)
        rows = [self.gallery.row_of(e.id) for e in group if self.gallery.row_of(e.id) >= 0]
        if rows:
            selection.setCurrentIndex(self.gallery.index(rows[0]), selection.SelectionFlag.NoUpdate)

    def export_entries(self, entries: list[Entry], folder: Optional[Path] = None) -> list[Path]:
        if not entries:
            return []
        if folder is None:
            chosen = QFileDialog.getExistingDirectory(self, "Export to folder", start_folder(self.settings))
            if not chosen:
                return []
            folder = Path(chosen)
            remember_folder(self.settings, folder)
        try:
            paths = self.store.export([e.id for e in entries], folder)
        except OSError as error:
            self.banner.show_message("error", "Export failed", str(error))
            return []
        self.statusBar().showMessage(f"Exported to {folder}", 5000)
        return paths

    def _on_banner_action(self) -> None:
        if self.banner.button.text() == "Undo":
            self.undo_delete()
        elif self.banner.button.text() == USE_AS_SOURCE and self._dropped is not None:
            self.banner.hide()
            self.use_as_source(self._dropped)
        elif self.banner.button.text() == RESUME:
            self.banner.hide()
            self.set_paused(False)
        elif self.banner.button.text() == SAVE_ELSEWHERE:
            self.save_unsaved()

    def save_unsaved(self, folder: Optional[Path] = None) -> list[Path]:
        """Writes the images the history could not keep into a folder the person picks,
        each with its recipe, as the history would have."""
        if not self.unsaved:
            return []
        if folder is None:
            chosen = QFileDialog.getExistingDirectory(self, "Save the unsaved images to",
                                                      start_folder(self.settings))
            if not chosen:
                return []
            folder = Path(chosen)
            remember_folder(self.settings, folder)
        from engine.pngmeta import save_png
        paths: list[Path] = []
        try:
            folder.mkdir(parents=True, exist_ok=True)
            while self.unsaved:
                result = self.unsaved[0]
                stem = f"sd-desk-{uuid.uuid4().hex[:8]}"
                for n, image in enumerate(result.images):
                    paths.append(save_png(folder / f"{stem}-{n}.png", image.pixels, result.request,
                                          image.seed, result.model_label,
                                          model_hash=result.model_hash))
                self.unsaved.pop(0)
        except OSError as error:
            self.banner.show_message("error", "Not saved", f"{folder}: {error.strerror or error}",
                                     action=SAVE_ELSEWHERE)
            return paths
        self.banner.show_message("info", "", f"Saved {len(paths)} image(s) to {folder}.")
        return paths

    # ---- drag and drop -------------------------------------------------------------------

    def eventFilter(self, watched, event) -> bool:
        """Image drops anywhere in the window, text boxes included: a PNG's recipe, or a
        source image (always, when dropped on the source panel).

        Without this, dropping on the prompt box would paste the file's URL as text:
        every text widget accepts drops itself and Qt never offers them to the window.
        """
        kind = event.type()
        if kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove, QEvent.Type.Drop) \
                and isinstance(watched, QWidget) and watched.window() is self \
                and _image_paths(event.mimeData()):
            if kind == QEvent.Type.Drop:
                self._take_drop(event, watched)
            else:
                event.acceptProposedAction()
            return True
        return super().eventFilter(watched, event)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if _image_paths(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        self._take_drop(event, None)

    def _take_drop(self, event: QDropEvent, target: Optional[QWidget]) -> None:
        paths = _image_paths(event.mimeData())
        if paths:
            event.acceptProposedAction()
            panel = self.form.source_panel
            self.dropped_image(paths[0], onto_source=target is not None
                               and (target is panel or panel.isAncestorOf(target)))

    def dropped_image(self, path: Path, onto_source: bool = False) -> None:
        """A PNG that carries a recipe asks what it is for; any other image is a source."""
        if onto_source or path.suffix.lower() != ".png":
            self.use_as_source(path)
            return
        recipe = self.services.read_recipe(path, self.form.request())
        if recipe.request is None and not recipe.problems:
            self._dropped = path
            self.banner.show_message("info", "No parameters found", recipe.note, action=USE_AS_SOURCE)
            return
        choice = self.ask_drop_use(path)
        if choice == "source":
            self.use_as_source(path)
        elif choice == "recipe":
            self._apply_recipe(path, recipe)

    def ask_drop_use(self, path: Path) -> str:
        """"recipe", "source" or "cancel"; a method so tests can answer without a modal box."""
        box = QMessageBox(QMessageBox.Icon.Question, "Dropped image",
                          f"{path.name} carries the settings it was made with.", parent=self)
        box.setInformativeText("Fill the form with them, or start from the image itself "
                               "(image to image)?")
        recipe = box.addButton("Load its recipe", QMessageBox.ButtonRole.AcceptRole)
        source = box.addButton(USE_AS_SOURCE, QMessageBox.ButtonRole.ActionRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(recipe)
        box.exec()
        return {recipe: "recipe", source: "source"}.get(box.clickedButton(), "cancel")

    def _apply_recipe(self, path: Path, recipe) -> bool:
        if recipe.problems:
            self.banner.show_message("error", recipe.note, "\n".join(recipe.problems))
            return False
        if recipe.request is None:
            self.banner.show_message("info", "No parameters found", recipe.note)
            return False
        self.form.set_request(recipe.request)
        self.form.seed.lock.setChecked(True)
        note = f"Form filled from {path.name}." + (f" {recipe.note}" if recipe.note else "")
        self.banner.show_message("info", "", note)
        return True

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._load_engine_when_shown:
            self._load_engine_when_shown = False
            QTimer.singleShot(50, self._start_engine)

    def _start_engine(self) -> None:
        if not self._closing:
            QMetaObject.invokeMethod(self.worker, "load_engine", Qt.ConnectionType.QueuedConnection)

    # ---- closing -------------------------------------------------------------------------

    def _restore_geometry(self) -> None:
        geometry = self.settings.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            self.resize(1440, 880)
        splitter = self.settings.value("window/splitter")
        if isinstance(splitter, QByteArray) and not splitter.isEmpty():
            self.splitter.restoreState(splitter)

    def save_settings(self) -> None:
        self.form.save_settings(self.settings)
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/splitter", self.splitter.saveState())
        self.settings.sync()

    def unfinished_jobs(self) -> int:
        return len(self.worker.queue.waiting()) + (self.worker.runner.running_job() is not None)

    def confirm_cancel_all(self, count: int) -> bool:
        """Whether to drop `count` jobs, which cannot be undone; a method so tests can answer."""
        box = QMessageBox(QMessageBox.Icon.Question, "Cancel all",
                          f"Cancel all {count} unfinished jobs?", parent=self)
        box.setInformativeText("The running job stops after its current step and the waiting "
                               "ones are removed from the queue. This cannot be undone.")
        drop = box.addButton("Cancel all jobs", QMessageBox.ButtonRole.DestructiveRole)
        keep = box.addButton("Keep them", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(keep)
        box.exec()
        return box.clickedButton() is drop

    def ask_about_unfinished(self, count: int) -> str:
        """"keep", "discard" or "cancel"; a method so tests can answer without a modal box."""
        box = QMessageBox(QMessageBox.Icon.Question, "Quit SD Desk",
                          f"{count} job{'s are' if count != 1 else ' is'} not finished.", parent=self)
        box.setInformativeText("Kept jobs wait in the queue, paused, when SD Desk starts again.")
        keep = box.addButton("Keep them for next time", QMessageBox.ButtonRole.AcceptRole)
        discard = box.addButton("Discard them", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(keep)
        box.exec()
        return {keep: "keep", discard: "discard"}.get(box.clickedButton(), "cancel")

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._closing:
            count = self.unfinished_jobs()
            choice = self.ask_about_unfinished(count) if count else "keep"
            if choice == "cancel":
                event.ignore()
                return
            self._closing = True
            QApplication.instance().removeEventFilter(self)
            self.form.source_panel.shutdown()  # an image being read finishes, unshown
            self.save_settings()
            # Hidden first: waiting for the current step to end must not look like a hang.
            self.hide()
            for run in self.batch_runs:
                run.stop()
            stopped = self.host.shutdown(keep_jobs=choice == "keep")
            if not stopped:
                log.error("the worker did not stop in time")
            self.first_run.shutdown()
            self.thumbs.shutdown()
            closer = getattr(self.store, "close", None)
            if closer is not None:
                closer()
        event.accept()


def _with_engine_counter(model_id: str, engine) -> PromptRules:
    """The model's rules, counting with the engine's cached tokenizer where they have no counter."""
    rules = rules_for(model_id)
    if rules.count_tokens is not None:
        return rules
    return rules.with_counter(lambda text: engine.count_tokens(model_id, text))


def _image_paths(mime) -> list[Path]:
    from gui.source_panel import IMAGE_SUFFIXES
    if mime is None or not mime.hasUrls():
        return []
    return [Path(u.toLocalFile()) for u in mime.urls()
            if u.isLocalFile() and u.toLocalFile().lower().endswith(IMAGE_SUFFIXES)]


def _tile(images: list[QImage]) -> QImage:
    from PySide6.QtGui import QPainter
    width = sum(i.width() for i in images)
    height = max(i.height() for i in images)
    out = QImage(width, height, QImage.Format.Format_RGB888)
    painter = QPainter(out)
    x = 0
    for image in images:
        painter.drawImage(x, 0, image)
        x += image.width()
    painter.end()
    return out
