"""The form's source image: image to image, inpainting (a painted mask) and outpainting.

Everything about a source image is judged by engine/img2img/prepare.py, as the
CLI's is: the panel only gathers what the person chose and shows what prepare()
says. Reading, checking and storing an image can take seconds (a 12-megapixel
photo is stored as a PNG), so it happens on a thread of its own, never on the
GUI thread; the form's Generate waits for it.
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtWidgets import QFileDialog, QFormLayout, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from engine.img2img.canvas import nothing_to_repaint
from engine.img2img.images import ImageProblem
from engine.img2img.prepare import Prepared, canvas_size, load_pixels, prepare
from engine.request import Source, check_field
from gui.folders import remember_folder, start_folder
from gui.mask_editor import MaskEditor, rgb_qimage, thumbnail
from gui.newest_work import NewestWork
from gui.source_reading import fit, guarded, read_image, read_mask
from gui.source_settings import SourceSettings

log = logging.getLogger(__name__)

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.webp *.bmp *.tif *.tiff);;All files (*)"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
THUMBNAIL = 180

# Called on the GUI thread with what prepare() made for Generate, or None and why not
# ("" when a newer image replaced the one being prepared).
PreparedCallback = Callable[[Optional[Prepared], str], None]


class _Thumbnail(QLabel):
    clicked = Signal()

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit()
        super().mousePressEvent(event)


class SourcePanel(QWidget):
    changed = Signal()  # anything a request reads from here
    canvas_changed = Signal(int, int)  # the request's width and height for this source
    active_changed = Signal(bool)  # a source is set, or no longer

    def __init__(self, store, settings: Optional[QSettings] = None,
                 parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setObjectName("sourcePanel")
        self.store = store  # engine.img2img.store.SourceStore
        self.settings = settings  # for the file dialogs' start folder
        self._pixels: Optional[np.ndarray] = None  # uint8 (H, W, 3), as stored
        self._source: Optional[Source] = None  # what prepare() stored last
        self._image_notes: list[str] = []  # about the image itself (its alpha, a mask resized)
        self._size_notes: list[str] = []  # about the canvas (canvas_size's)
        self._canvas_problem = ""
        self._message = ""  # why the last image or mask opened could not be used
        self._form_problems = ""
        self.reader = NewestWork("source-image", self)

        title = QLabel("Source image")
        title.setProperty("role", "caption")
        self.open_button = QPushButton("Open image\u2026")
        self.open_button.setObjectName("openSource")
        self.open_button.setToolTip("Start from an image: image to image, inpainting, outpainting")
        self.drop_hint = QLabel("or drop one here, or use \u201cSend to image to image\u201d on a "
                                "picture in the gallery.")
        self.drop_hint.setProperty("role", "hint")
        self.drop_hint.setWordWrap(True)
        self.thumb = _Thumbnail()
        self.thumb.setObjectName("sourceThumbnail")
        self.thumb.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.thumb.setToolTip("Click to paint the mask")
        self.thumb.setCursor(Qt.CursorShape.PointingHandCursor)
        self.size_label = QLabel()
        self.size_label.setProperty("role", "hint")
        self.size_label.setWordWrap(True)
        self.mask_button = QPushButton("Paint mask\u2026")
        self.mask_button.setObjectName("editMask")
        self.mask_button.setToolTip("Paint what should be repainted (inpainting)")
        # Beside "Paint mask…", a bare "Clear" read as clearing the mask (issue 31).
        self.clear_button = QPushButton("Remove image")
        self.clear_button.setObjectName("clearSource")
        self.clear_button.setToolTip("Back to text to image (the mask goes with the image)")

        self.options = SourceSettings()

        self.notes = QLabel()
        self.notes.setObjectName("sourceNotes")
        self.notes.setProperty("role", "hint")
        self.notes.setWordWrap(True)
        self.error = QLabel()
        self.error.setObjectName("error_source")
        self.error.setProperty("role", "fieldError")
        self.error.setWordWrap(True)
        self.editor = MaskEditor(self)

        empty = QHBoxLayout()
        empty.addWidget(self.open_button)
        empty.addWidget(self.drop_hint, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.mask_button)
        buttons.addWidget(self.clear_button)
        buttons.addStretch(1)
        self.controls = QWidget()
        grid = QFormLayout(self.controls)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addRow(self.thumb)
        grid.addRow(self.size_label)
        grid.addRow(buttons)
        grid.addRow(self.options)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(title)
        layout.addLayout(empty)
        layout.addWidget(self.controls)
        layout.addWidget(self.notes)
        layout.addWidget(self.error)

        self.open_button.clicked.connect(self.open_dialog)
        self.clear_button.clicked.connect(self.clear)
        self.mask_button.clicked.connect(self.edit_mask)
        self.thumb.clicked.connect(self.edit_mask)
        self.options.changed.connect(self._on_setting)
        self.options.margins_changed.connect(self._on_margins)
        self.reader.settled.connect(self._on_read)
        self.editor.canvas.changed.connect(self._on_mask)
        self.editor.load_requested.connect(self.open_mask_dialog)
        self._show()

    # ---- what the request reads ------------------------------------------------------

    @property
    def is_set(self) -> bool:
        return self._source is not None

    @property
    def busy(self) -> bool:
        return self.reader.busy

    def current_source(self) -> Optional[Source]:
        """The source with the settings shown. Its mask is the one stored last: Generate
        stores the painted one (prepare_for_generate), and so does saving the form."""
        if self._source is None:
            return None
        return self._source.replace(**self.options.chosen())

    def painted_mask(self) -> Optional[np.ndarray]:
        """The mask as painted, at the source's size; None when nothing is painted (then the
        whole image is changed)."""
        mask = self.editor.canvas.mask()
        return None if mask.size == 0 or nothing_to_repaint(mask) else mask

    def problems(self) -> list[str]:
        """What is wrong with the source beyond the request's own checks (margins too wide)."""
        return [self._canvas_problem] if self._canvas_problem else []

    def busy_text(self) -> str:
        """What is being read or stored now; Generate waits for it."""
        return self.reader.busy_text

    def show_problems(self, text: str) -> None:
        """The request's problems with the source (strength, margins…), from the form,
        under the message of the last image that could not be used."""
        self._form_problems = text
        shown = "\n".join(t for t in (text, self._message) if t)
        self.error.setText(shown)
        self.error.setVisible(bool(shown))

    # ---- choosing an image ----------------------------------------------------------

    def open_dialog(self) -> None:
        start = start_folder(self.settings) if self.settings is not None else str(Path.home())
        chosen, _ = QFileDialog.getOpenFileName(self, "Open a source image", start, IMAGE_FILTER)
        if chosen:
            if self.settings is not None:
                remember_folder(self.settings, Path(chosen).parent)
            self.open_file(Path(chosen))

    def open_file(self, path: Path, edit_mask: bool = False) -> None:
        """Reads, checks and stores the image on a thread; shows it, or prepare()'s message.
        With `edit_mask` the mask editor opens once it is shown (Inpaint)."""
        store, strength, blur = self.store, self.options.strength_now(), self.options.mask_blur.value()

        def done(payload) -> None:
            prepared, image, mask, notes = payload
            self._take(prepared.source, image, mask, notes)
            if edit_mask:
                self.edit_mask()
        self._start("Reading the source image\u2026", lambda: read_image(store, Path(path), strength, blur), done)

    def use_source(self, source: Optional[Source], quiet: bool = False) -> None:
        """Shows a request's source (a reused image, a saved form) from the store. One
        that is gone is dropped: with a note, or (`quiet`) a note only when it was shown."""
        if source is None:
            self.clear()
            return
        if source == self.current_source():
            return  # already shown: a mask painted since stays (a dropped recipe keeps the source)
        store = self.store

        def done(payload) -> None:
            image, mask = payload
            self.options.set_from(source)
            self._take(source, image, mask, [])

        def gone(message: str) -> None:
            self.clear()
            self._image_notes = [message]
            self._show()
        self._start("Reading the source image\u2026", lambda: load_pixels(store, source), done, gone)

    def clear(self) -> None:
        self.reader.drop()  # what is still being read for the old image is dropped
        was_set = self._source is not None
        self._source = None
        self._pixels = None
        self._image_notes, self._size_notes, self._canvas_problem = [], [], ""
        self._message = ""
        self.editor.hide()
        self.editor.canvas.set_image(rgb_qimage(np.zeros((1, 1, 3), np.uint8)))
        self._show()
        if was_set:
            self.active_changed.emit(False)
        self.changed.emit()

    def edit_mask(self) -> None:
        if self._source is None:
            return
        self.editor.show()
        self.editor.raise_()
        self.editor.activateWindow()

    def open_mask_dialog(self) -> None:
        start = start_folder(self.settings) if self.settings is not None else str(Path.home())
        chosen, _ = QFileDialog.getOpenFileName(self.editor, "Open a mask (white is repainted)",
                                                start, IMAGE_FILTER)
        if chosen:
            self.load_mask_file(Path(chosen))

    def load_mask_file(self, path: Path) -> None:
        """A mask file into the editor, at the source's size (source_reading.read_mask)."""
        if self._pixels is None:
            return
        store, pixels = self.store, self._pixels

        def done(payload) -> None:
            mask, notes = payload
            self.editor.canvas.replace_mask(mask)
            self._image_notes = [n for n in self._image_notes if n not in notes] + notes
            self._show()
        self._start("Reading the mask\u2026", lambda: read_mask(store, pixels, Path(path)), done)

    # ---- Generate --------------------------------------------------------------------

    def prepare_for_generate(self, done: PreparedCallback) -> None:
        """The source as Generate sends it: prepare() with the painted mask, on a thread;
        `done(prepared, "")`, or `done(None, message)` when it cannot be used."""
        if self._pixels is None or self.busy:
            done(None, self.reader.busy_text or "No source image is set.")
            return
        store, pixels, mask = self.store, self._pixels, self.painted_mask()
        chosen = self.options.chosen()

        def work():
            return prepare(store, pixels, mask, **chosen)

        def prepared(result: Prepared) -> None:
            self._source = result.source
            self._show(result.notes)
            done(result, "")
        self._start("Preparing the source image\u2026", work, prepared, lambda message: done(None, message),
                    replaced=lambda: done(None, ""))

    # ---- the form's state ------------------------------------------------------------

    def saved_state(self) -> Optional[dict]:
        """The source by its stored ids, the painted mask stored now (a small PNG)."""
        source = self.current_source()
        if source is None:
            return None
        mask = self.painted_mask()
        try:
            mask_id = None if mask is None else self.store.put(mask)
        except OSError as error:
            log.warning("the painted mask was not kept: %s", error)
            mask_id = source.mask
        return dataclasses.asdict(source.replace(mask=mask_id))

    def restore_state(self, data) -> None:
        """A saved state from the last session; one that is unreadable or whose images are
        gone is dropped, saying so under the panel."""
        if not isinstance(data, dict) or check_field("source", data):
            return
        self.use_source(Source.from_dict(data))

    # ---- inside ----------------------------------------------------------------------

    def _take(self, source: Source, image: np.ndarray, mask: Optional[np.ndarray],
              notes: list[str]) -> None:
        was_set = self._source is not None
        self._source = source
        self._pixels = np.ascontiguousarray(image[..., :3])
        self._image_notes = list(notes)
        qimage = rgb_qimage(self._pixels)
        self.editor.canvas.set_image(qimage, None if mask is None else fit(mask, self._pixels.shape[:2]))
        self._apply_canvas()
        if not was_set:
            self.active_changed.emit(True)
        self.changed.emit()

    def _apply_canvas(self) -> None:
        if self._pixels is None:
            self._show()
            return
        height, width = self._pixels.shape[:2]
        try:
            canvas_w, canvas_h, self._size_notes = canvas_size(width, height, self.options.margins_now())
            self._canvas_problem = ""
        except ImageProblem as error:
            self._canvas_problem, self._size_notes = str(error), []
            canvas_w = canvas_h = 0
        self._show()
        if canvas_w:
            self.canvas_changed.emit(canvas_w, canvas_h)

    def _on_setting(self, *_args) -> None:
        self._show()
        self.changed.emit()

    def _on_margins(self, *_args) -> None:
        self._apply_canvas()
        self.changed.emit()

    def _on_mask(self) -> None:
        self._show()
        self.changed.emit()

    def _show(self, extra_notes: Optional[list[str]] = None) -> None:
        active = self._source is not None
        self.controls.setVisible(active)
        self.drop_hint.setVisible(not active)
        self.open_button.setText("Open another\u2026" if active else "Open image\u2026")
        self.open_button.setEnabled(not self.busy)
        if active and self._pixels is not None:
            canvas = self.editor.canvas
            masked = self.painted_mask() is not None
            self.options.show_fill(masked)
            self.thumb.setPixmap(thumbnail(canvas.image, canvas.overlay if masked else None, THUMBNAIL))
            h, w = self._pixels.shape[:2]
            painted = "masked" if masked else "no mask: all of it changes"
            self.size_label.setText(f"{w}\u00d7{h} \u00b7 {painted}")
        notes = []
        for note in [*self._image_notes, *self._size_notes, *(extra_notes or [])]:
            if note not in notes:
                notes.append(note)
        if self.busy:
            notes.append(self.reader.busy_text)
        self.notes.setText("\n".join(notes))
        self.notes.setVisible(bool(notes))
        self.show_problems(self._form_problems)

    def _start(self, busy: str, work: Callable[[], Any], done: Callable[[Any], None],
               failed: Optional[Callable[[str], None]] = None,
               replaced: Optional[Callable[[], None]] = None) -> None:
        """Runs `work` on its own thread; `done(result)` or `failed(message)` (else the message
        under the panel) on the GUI thread, unless newer work has started meanwhile (then
        `replaced()`: Generate waits on prepared work and must be told)."""
        # `failed` says it where the person will look (the banner, a note).
        self.reader.start(busy, guarded(work), done, failed or self._keep_message, replaced)
        self._message = ""
        self._show()
        self.changed.emit()

    def _keep_message(self, message: str) -> None:
        self._message = message

    def _on_read(self) -> None:
        self._show()
        self.changed.emit()

    def shutdown(self, timeout_ms: int = 30_000) -> None:
        """For closing the window: what is being read finishes, and nothing is shown of it."""
        self.reader.shutdown(timeout_ms)
