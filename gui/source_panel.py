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
from PySide6.QtWidgets import (QFileDialog, QFormLayout, QGridLayout, QHBoxLayout, QLabel, QPushButton,
                               QSlider, QSpinBox, QVBoxLayout, QWidget)

from engine.img2img.canvas import nothing_to_repaint
from engine.img2img.images import ImageProblem
from engine.img2img.prepare import Prepared, canvas_size, load_pixels, prepare
from engine.request import MASK_BLUR_RANGE, MAX_SIDE, SIDE_STEP, STRENGTH_RANGE, Source, check_field
from gui.folders import remember_folder, start_folder
from gui.mask_editor import MaskEditor, rgb_qimage, thumbnail
from gui.tasks import Task, on_own_thread

log = logging.getLogger(__name__)

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.webp *.bmp *.tif *.tiff);;All files (*)"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
THUMBNAIL = 180
_DEFAULT = Source(image="")  # the request's own defaults: strength, mask blur
STRENGTH_TICKS = 100  # the slider's steps across STRENGTH_RANGE
MARGIN_NAMES = ("left", "top", "right", "bottom")

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

    def __init__(self, store, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setObjectName("sourcePanel")
        self.store = store  # engine.img2img.store.SourceStore
        self.settings: Optional[QSettings] = None  # for the file dialogs' start folder
        self._pixels: Optional[np.ndarray] = None  # uint8 (H, W, 3), as stored
        self._source: Optional[Source] = None  # what prepare() stored last
        self._image_notes: list[str] = []  # about the image itself (its alpha, a mask resized)
        self._size_notes: list[str] = []  # about the canvas (canvas_size's)
        self._canvas_problem = ""
        self._message = ""  # why the last image or mask opened could not be used
        self._form_problems = ""
        self._busy = ""
        self._ticket = 0
        self._pending: dict[int, PreparedCallback] = {}
        self._threads: list[tuple[Any, Task]] = []

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

        self.strength = QSlider(Qt.Orientation.Horizontal)
        self.strength.setObjectName("strength")
        self.strength.setRange(0, STRENGTH_TICKS)
        self.strength.setValue(_ticks(_DEFAULT.strength))
        self.strength.setToolTip("How much to change: 0 keeps the source, 1 repaints it all")
        self.strength_value = QLabel()
        self.strength_value.setMinimumWidth(32)
        self.mask_blur = QSpinBox()
        self.mask_blur.setObjectName("mask_blur")
        self.mask_blur.setRange(*MASK_BLUR_RANGE)
        self.mask_blur.setValue(_DEFAULT.mask_blur)
        self.mask_blur.setSuffix(" px")
        self.mask_blur.setToolTip("How softly the repainted part blends into the rest")
        self.margins = {}
        for name in MARGIN_NAMES:
            box = QSpinBox()
            box.setObjectName(f"outpaint_{name}")
            box.setRange(0, MAX_SIDE)
            box.setSingleStep(SIDE_STEP)
            box.setToolTip(f"Outpainting: pixels added on the {name}, repainted (multiples of {SIDE_STEP})")
            self.margins[name] = box

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
        strength_row = QHBoxLayout()
        strength_row.addWidget(self.strength, 1)
        strength_row.addWidget(self.strength_value)
        # Two by two: four boxes in a row would not fit the form's column.
        margin_grid = QGridLayout()
        margin_grid.setContentsMargins(0, 0, 0, 0)
        for index, name in enumerate(MARGIN_NAMES):
            row, column = divmod(index, 2)
            label = QLabel(name.capitalize())
            label.setProperty("role", "hint")
            margin_grid.addWidget(label, row, 2 * column)
            margin_grid.addWidget(self.margins[name], row, 2 * column + 1)
        margin_grid.setColumnStretch(1, 1)
        margin_grid.setColumnStretch(3, 1)
        self.controls = QWidget()
        grid = QFormLayout(self.controls)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addRow(self.thumb)
        grid.addRow(self.size_label)
        grid.addRow(buttons)
        grid.addRow("Strength", strength_row)
        grid.addRow("Mask blur", self.mask_blur)
        outpaint_caption = QLabel(f"Outpaint: pixels added on each side (multiples of {SIDE_STEP})")
        outpaint_caption.setWordWrap(True)
        grid.addRow(outpaint_caption)
        grid.addRow(margin_grid)
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
        self.strength.valueChanged.connect(self._on_setting)
        self.mask_blur.valueChanged.connect(self._on_setting)
        for box in self.margins.values():
            box.valueChanged.connect(self._on_margins)
        self.editor.canvas.changed.connect(self._on_mask)
        self.editor.load_requested.connect(self.open_mask_dialog)
        self._show()

    # ---- what the request reads ------------------------------------------------------

    @property
    def is_set(self) -> bool:
        return self._source is not None

    @property
    def busy(self) -> bool:
        return bool(self._busy)

    def strength_value_now(self) -> float:
        low, high = STRENGTH_RANGE
        return round(low + (high - low) * self.strength.value() / STRENGTH_TICKS, 4)

    def margins_now(self) -> tuple[int, int, int, int]:
        return tuple(self.margins[name].value() for name in MARGIN_NAMES)

    def current_source(self) -> Optional[Source]:
        """The source with the settings shown. Its mask is the one stored last: Generate
        stores the painted one (prepare_for_generate), and so does saving the form."""
        if self._source is None:
            return None
        return self._source.replace(strength=self.strength_value_now(),
                                    mask_blur=self.mask_blur.value(), outpaint=self.margins_now())

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
        return self._busy

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
        store, strength, blur, margins = self.store, self.strength_value_now(), \
            self.mask_blur.value(), self.margins_now()

        def work():
            # The margins are applied afterwards (canvas_size): margins too wide for
            # this image are said then, and do not stop it from opening.
            prepared = prepare(store, Path(path), None, strength=strength, mask_blur=blur)
            image, mask = load_pixels(store, prepared.source)
            size_notes = canvas_size(image.shape[1], image.shape[0])[2]
            return prepared, image, mask, [n for n in prepared.notes if n not in size_notes]

        def done(payload) -> None:
            prepared, image, mask, notes = payload
            self._take(prepared.source, image, mask, notes)
            if edit_mask:
                self.edit_mask()
        self._start("Reading the source image\u2026", work, done)

    def use_source(self, source: Optional[Source], quiet: bool = False) -> None:
        """Shows a request's source (a reused image, a saved form) from the store. One
        that is gone is dropped: with a note, or (`quiet`) a note only when it was shown."""
        if source is None:
            self.clear()
            return
        if source == self.current_source():
            return  # already shown: a mask painted since stays (a dropped recipe keeps the source)
        store = self.store

        def work():
            image, mask = load_pixels(store, source)
            return image, mask

        def done(payload) -> None:
            image, mask = payload
            self._set_settings(source)
            self._take(source, image, mask, [])

        def gone(message: str) -> None:
            self.clear()
            self._image_notes = [message]
            self._show()
        self._start("Reading the source image\u2026", work, done, gone)

    def clear(self) -> None:
        self._ticket += 1  # what is still being read for the old image is dropped
        self._release_pending()
        was_set = self._source is not None
        self._source = None
        self._pixels = None
        self._image_notes, self._size_notes, self._canvas_problem, self._busy = [], [], "", ""
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
        """A mask file into the editor, at the source's size; prepare() judges it (unreadable,
        all black, another size) with the message and note it gives the CLI."""
        if self._pixels is None:
            return
        store, pixels = self.store, self._pixels

        def work():
            prepared = prepare(store, pixels, Path(path))
            _, mask = load_pixels(store, prepared.source)
            return _fit(mask, pixels.shape[:2]), [n for n in prepared.notes
                                                  if n not in canvas_size(pixels.shape[1], pixels.shape[0])[2]]

        def done(payload) -> None:
            mask, notes = payload
            self.editor.canvas.replace_mask(mask)
            self._image_notes = [n for n in self._image_notes if n not in notes] + notes
            self._show()
        self._start("Reading the mask\u2026", work, done)

    # ---- Generate --------------------------------------------------------------------

    def prepare_for_generate(self, done: PreparedCallback) -> None:
        """The source as Generate sends it: prepare() with the painted mask, on a thread;
        `done(prepared, "")`, or `done(None, message)` when it cannot be used."""
        if self._pixels is None or self.busy:
            done(None, self._busy or "No source image is set.")
            return
        store, pixels, mask = self.store, self._pixels, self.painted_mask()
        strength, blur, margins = self.strength_value_now(), self.mask_blur.value(), self.margins_now()

        def work():
            return prepare(store, pixels, mask, strength=strength, mask_blur=blur, outpaint=margins)

        def prepared(result: Prepared) -> None:
            self._source = result.source
            self._show(result.notes)
            done(result, "")
        self._start("Preparing the source image\u2026", work, prepared, lambda message: done(None, message),
                    callback=done)

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
        self.editor.canvas.set_image(qimage, None if mask is None else _fit(mask, self._pixels.shape[:2]))
        self._apply_canvas()
        if not was_set:
            self.active_changed.emit(True)
        self.changed.emit()

    def _set_settings(self, source: Source) -> None:
        widgets = [self.strength, self.mask_blur, *self.margins.values()]
        for widget in widgets:
            widget.blockSignals(True)
        try:
            self.strength.setValue(_ticks(source.strength))
            self.mask_blur.setValue(int(source.mask_blur))
            for name, value in zip(MARGIN_NAMES, source.outpaint):
                self.margins[name].setValue(int(value))
        finally:
            for widget in widgets:
                widget.blockSignals(False)

    def _apply_canvas(self) -> None:
        if self._pixels is None:
            self._show()
            return
        height, width = self._pixels.shape[:2]
        try:
            canvas_w, canvas_h, self._size_notes = canvas_size(width, height, self.margins_now())
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
        self.strength_value.setText(f"{self.strength_value_now():.2f}")
        if active and self._pixels is not None:
            canvas = self.editor.canvas
            masked = self.painted_mask() is not None
            self.thumb.setPixmap(thumbnail(canvas.image, canvas.overlay if masked else None, THUMBNAIL))
            h, w = self._pixels.shape[:2]
            painted = "masked" if masked else "no mask: all of it changes"
            self.size_label.setText(f"{w}\u00d7{h} \u00b7 {painted}")
        notes = []
        for note in [*self._image_notes, *self._size_notes, *(extra_notes or [])]:
            if note not in notes:
                notes.append(note)
        if self._busy:
            notes.append(self._busy)
        self.notes.setText("\n".join(notes))
        self.notes.setVisible(bool(notes))
        self.show_problems(self._form_problems)

    def _start(self, busy: str, work: Callable[[], Any], done: Callable[[Any], None],
               failed: Optional[Callable[[str], None]] = None,
               callback: Optional[PreparedCallback] = None) -> None:
        """Runs `work` on its own thread; `done(result)` or `failed(message)` (else the message
        under the panel) on the GUI thread, unless newer work has started meanwhile."""
        self._ticket += 1
        ticket = self._ticket
        self._release_pending()
        if callback is not None:
            self._pending[ticket] = callback
        self._busy = busy
        self._message = ""
        self._handlers = (ticket, done, failed)
        self._show()
        self.changed.emit()

        def run(_progress, _cancel):
            try:
                return ticket, work()
            except ImageProblem as error:
                return ticket, error
            except Exception as error:  # noqa: BLE001 - shown as a message, logged with its traceback
                log.exception("reading a source image failed")
                return ticket, RuntimeError(f"The image could not be used: {error}")

        task = Task()
        task.finished.connect(self._work_done)
        self._threads = [(t, k) for t, k in self._threads if not t.isFinished()]
        self._threads.append((on_own_thread(task, "source-image", run), task))

    def _work_done(self, payload) -> None:
        ticket, result = payload
        if ticket != self._ticket:
            return  # a newer image, or Clear, came first
        self._pending.pop(ticket, None)
        _, done, failed = self._handlers
        self._busy = ""
        if isinstance(result, Exception):
            message = str(result)
            if failed is not None:
                failed(message)  # says it where the person will look (the banner, a note)
            else:
                self._message = message
            self._show()
            self.changed.emit()
            return
        done(result)
        self._show()
        self.changed.emit()

    def _release_pending(self) -> None:
        """Generate waits on prepared work that newer work replaced: tell it."""
        for ticket in [t for t in self._pending if t != self._ticket]:
            self._pending.pop(ticket)(None, "")

    def shutdown(self, timeout_ms: int = 30_000) -> None:
        """For closing the window: what is being read finishes, and nothing is shown of it."""
        self._ticket += 1
        for thread, _task in self._threads:
            thread.wait(timeout_ms)
        self._threads.clear()


def _ticks(strength: float) -> int:
    low, high = STRENGTH_RANGE
    return int(round((strength - low) / (high - low) * STRENGTH_TICKS))


def _fit(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A stored mask at the source's size for the editor (the engine resizes it the same
    way, bilinearly, onto the canvas)."""
    if mask.shape[:2] == tuple(shape):
        return mask
    from PIL import Image
    return np.asarray(Image.fromarray(mask).resize((shape[1], shape[0]), Image.Resampling.BILINEAR))
