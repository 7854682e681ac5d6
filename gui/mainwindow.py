"""The main window: the form on the left, progress and preview in the middle, the gallery on
the right. It only builds the parts, lays them out and wires them to one another; what a
button does lives in the part that shows it:

    gui/generation_panel.py   the form (gui/form.py), Generate and Cancel
    gui/model_chooser.py      the form's model row, Tools > Models and Manage Checkpoints
    gui/progress_view.py      the big image, the running job's phase and progress bar
    gui/first_run.py          a model's missing weights, File > Import Weights
    gui/queue_panel.py        the waiting jobs: reorder, remove, run again, pause, cancel all
    gui/gallery_panel.py      the history's images, their details and context menu
    gui/image_drops.py        dropped images, File > Open Image, Send to image to image
    gui/unsaved_results.py    finished images the history could not keep
    gui/batch_run.py          Tools > Batch / X-Y plot
    gui/grid_shelf.py         the X/Y grids saved, listed under the gallery to open again
    gui/engine_status.py      the status bar's word on the engine
    gui/menus.py              the menu bar, built from the parts' actions
    gui/api_switch.py         Preferences > API: AUTOMATIC1111's API over this window's queue
"""
from __future__ import annotations

import logging

from PySide6.QtCore import QByteArray, QMetaObject, QSettings, Qt, QTimer
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import QMainWindow, QMessageBox, QSplitter, QStyle, QVBoxLayout, QWidget

from engine.jobs import JobQueue
from gui.api_switch import ApiSwitch
from gui.banner import Banner
from gui.batch_run import Batches
from gui.engine_status import EngineStatus
from gui.first_run import FirstRunPanel
from gui.form import GenerationForm
from gui.form_settings import load_form, save_form
from gui.gallery_panel import GalleryPanel
from gui.generation_panel import GenerationPanel
from gui.grid_shelf import GridShelf
from gui.help_dialogs import HelpDialogs
from gui.image_drops import ImageDrops, image_paths
from gui.menus import Menus
from gui.model_chooser import ModelChooser
from gui.notices import Notices
from gui.progress_view import ProgressView
from gui.queue_panel import QueuePanel
from gui.services import Services
from gui.unsaved_results import UnsavedResults
from gui.upscale_action import UpscaleAction
from gui.worker import GenerationWorker, WorkerHost

log = logging.getLogger(__name__)


class MainWindow(QMainWindow):
    def __init__(self, services: Services, settings: QSettings, load_engine_now: bool = True) -> None:
        super().__init__()
        self.setObjectName("mainWindow")
        self.setWindowTitle("SD Desk")
        self.setAcceptDrops(True)
        self.services = services
        self.settings = settings
        self._closing = False

        self.banner = Banner()
        self.notices = Notices(self.banner, self.statusBar(), self)
        self.gallery = GalleryPanel(services.history_factory, self.notices, settings)
        self.worker = GenerationWorker(services.engine_factory, services.history_factory,
                                       self._open_queue())
        self.model_chooser = ModelChooser(services.models, self.notices)
        self.form = GenerationForm(self.model_chooser, sources=services.sources, settings=settings)
        self.queue_panel = QueuePanel(self.worker, self.notices)
        self.upscaler = UpscaleAction(services.sources, self.queue_panel, self.notices, self)
        self.progress = ProgressView(self.worker, self.notices)
        self.generation = GenerationPanel(self.form, self.model_chooser, self.queue_panel, self.progress,
                                          self.notices)
        self.first_run = FirstRunPanel(self.model_chooser, self.notices, settings,
                                       services.download, services.import_folder)
        self.progress.set_setup_page(self.first_run)
        self.drops = ImageDrops(self, self.form, services.read_recipe, self.notices, settings)
        self.unsaved = UnsavedResults(self.notices, settings)
        self.batches = Batches(self.form, self.queue_panel, self.gallery.stored_path, self.notices,
                               settings, services.grids_dir, self)
        self.grid_shelf = GridShelf(self.batches.grids_folder)
        self.gallery.add_beside_count(self.grid_shelf)
        self.engine_status = EngineStatus(self.worker, self.notices)
        self.statusBar().addPermanentWidget(self.engine_status)
        self.help = HelpDialogs(self, self.engine_status.text)
        self._lay_out()
        self._wire()
        self.menus = Menus(self, generation=self.generation, models=self.model_chooser,
                           first_run=self.first_run, gallery=self.gallery, queue=self.queue_panel,
                           drops=self.drops, batches=self.batches, help_dialogs=self.help,
                           worker=self.worker)

        self.model_chooser.refresh()
        load_form(self.form, settings)
        self.model_chooser.prefer_default()
        self._restore_geometry()
        self.worker.warm_models = tuple(m.id for m in self.model_chooser.models())
        # The engine (TensorFlow) starts loading only once the first frame is painted:
        # an import holds the GIL in long stretches and would delay the window itself.
        self._load_engine_when_shown = load_engine_now
        self.host = WorkerHost(self.worker, load_engine_now=False)
        self.generation.update_buttons()
        self.queue_panel.offer_leftover_jobs()
        self.drops.start()
        # Preferences > API: AUTOMATIC1111's API over this window's queue, while it is open.
        self.api = ApiSwitch(self.worker, services.sources, self.notices, self)
        self.api.apply()

    # ---- construction --------------------------------------------------------------------

    def _open_queue(self) -> JobQueue:
        """The queue in the history's database, so a crash or a close loses no job; in memory
        when the window has no history (or it cannot be opened)."""
        if self.services.queue_path is not None:
            try:
                return JobQueue(self.services.queue_path)
            except Exception as error:  # noqa: BLE001 - the window works with a queue in memory
                log.exception("job queue failed to open")
                self.notices.error("Queue not kept", f"Jobs will not survive a restart: {error}")
        return JobQueue()

    def _lay_out(self) -> None:
        center = QWidget()
        cv = QVBoxLayout(center)
        cv.addWidget(self.banner)
        cv.addWidget(self.progress, 1)
        cv.addWidget(self.queue_panel)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("mainSplitter")
        self.splitter.addWidget(self.generation)
        self.splitter.addWidget(center)
        self.splitter.addWidget(self.gallery)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setStretchFactor(2, 2)
        self.splitter.setSizes([380, 560, 520])
        # A dragged splitter once collapsed the centre column (preview, progress, queue)
        # out of reach; every pane keeps a usable width instead.
        for pane, width in ((self.generation, 330), (center, 300), (self.gallery, 250)):
            pane.setMinimumWidth(width)
        for splitter in (self.splitter, self.gallery):
            for index in range(splitter.count()):
                splitter.setCollapsible(index, False)
        # The gallery's own margin at the window's edge, as the other columns' layouts have:
        # without it "Favorites" and, at 1920, "Open" touched the edge and were cut.
        margin = self.style().pixelMetric(QStyle.PixelMetric.PM_LayoutRightMargin)
        self.gallery.setContentsMargins(0, margin, margin, margin)
        self.setMinimumSize(900, 600)
        self.setCentralWidget(self.splitter)

    def _wire(self) -> None:
        """What one part does for another."""
        self.first_run.needed.connect(self.progress.show_setup)
        self.progress.job_finished.connect(self.unsaved.keep)
        self.progress.job_finished.connect(lambda outcome: self.gallery.show_new(outcome.entry_ids))
        self.gallery.image_chosen.connect(self.progress.show_still)
        self.gallery.reuse_requested.connect(self.generation.reuse)
        self.gallery.source_requested.connect(self.drops.use_as_source)
        self.gallery.upscale_requested.connect(self.upscaler.upscale)
        self.generation.generate_pressed.connect(self.drops.withdraw_filled_note)
        self.batches.grids_saved.connect(self.grid_shelf.refresh)
        self.engine_status.ready.connect(self.form.count_tokens_with)
        self.generation.model_note.words_requested.connect(self.help.show_demo_words)
        # The window's own: they work wherever the focus is, and with the form hidden.
        for keys in ("Ctrl+Return", "Ctrl+Enter"):
            QShortcut(QKeySequence(keys), self, activated=self.generation.generate)
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self, activated=self.generation.cancel)

    # ---- drops on the window itself (gui/image_drops.py takes those on its widgets) ------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if image_paths(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        self.drops.take_drop(event, None)

    # ---- starting and closing ------------------------------------------------------------

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._load_engine_when_shown:
            self._load_engine_when_shown = False
            QTimer.singleShot(50, self._start_engine)

    def _start_engine(self) -> None:
        if not self._closing:
            QMetaObject.invokeMethod(self.worker, "load_engine", Qt.ConnectionType.QueuedConnection)

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
        save_form(self.form, self.settings)
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/splitter", self.splitter.saveState())
        self.settings.sync()

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
            count = self.queue_panel.unfinished_jobs()
            choice = self.ask_about_unfinished(count) if count else "keep"
            if choice == "cancel":
                event.ignore()
                return
            self._closing = True
            self.generation.closing = True
            self.drops.stop()
            self.form.shutdown()  # an image being read, or files being listed, finish unshown
            self.upscaler.shutdown()
            self.save_settings()
            # Hidden first: waiting for the current step to end must not look like a hang.
            self.hide()
            self.batches.stop()
            self.api.shutdown()  # before the worker: calls waiting on its jobs end first
            stopped = self.host.shutdown(keep_jobs=choice == "keep")
            if not stopped:
                log.error("the worker did not stop in time")
            self.first_run.shutdown()
            self.gallery.shutdown()
        event.accept()
