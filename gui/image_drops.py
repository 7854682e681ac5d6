"""Images that come into the form from outside: dropped anywhere on the window, opened with
File > Open Image, or sent from the gallery. A PNG that carries a recipe asks whether to
fill the form from it or start from the image; any other image becomes the source."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

from PySide6.QtCore import QEvent, QObject, QSettings
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox, QWidget

from gui.folders import remember_folder, start_folder
from gui.form import GenerationForm
from gui.notices import Notices
from gui.source_panel import IMAGE_FILTER, IMAGE_SUFFIXES

USE_AS_SOURCE = "Use as source image"


class ImageDrops(QObject):
    def __init__(self, window: QWidget, form: GenerationForm, read_recipe: Callable,
                 notices: Notices, settings: QSettings) -> None:
        """`read_recipe(path, base request)`: gui.services.read_recipe, the services' own."""
        super().__init__(window)
        self.window = window
        self.form = form
        self.read_recipe = read_recipe
        self.notices = notices
        self.settings = settings  # where File > Open Image starts
        self._filled_note = ""  # "Form filled from…", while it is true: until the next edit
        form.changed.connect(self.withdraw_filled_note)

    # ---- where images arrive -------------------------------------------------------------

    def start(self) -> None:
        QApplication.instance().installEventFilter(self)

    def stop(self) -> None:
        QApplication.instance().removeEventFilter(self)

    def eventFilter(self, watched, event) -> bool:
        """Image drops anywhere in the window, text boxes included: a PNG's recipe, or a
        source image (always, when dropped on the source panel).

        Without this, dropping on the prompt box would paste the file's URL as text:
        every text widget accepts drops itself and Qt never offers them to the window.
        """
        kind = event.type()
        if kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove, QEvent.Type.Drop) \
                and isinstance(watched, QWidget) and watched.window() is self.window \
                and image_paths(event.mimeData()):
            if kind == QEvent.Type.Drop:
                self.take_drop(event, watched)
            else:
                event.acceptProposedAction()
            return True
        return super().eventFilter(watched, event)

    def take_drop(self, event: QDropEvent, target: Optional[QWidget]) -> None:
        """`target`: the widget it was dropped on; None for the window itself."""
        paths = image_paths(event.mimeData())
        if paths:
            event.acceptProposedAction()
            panel = self.form.source_panel
            self.dropped_image(paths[0], onto_source=target is not None
                               and (target is panel or panel.isAncestorOf(target)))

    def open_image(self) -> None:
        """File > Open Image, as a drop on the window."""
        chosen, _ = QFileDialog.getOpenFileName(self.window, "Open an image", start_folder(self.settings),
                                                IMAGE_FILTER)
        if chosen:
            remember_folder(self.settings, Path(chosen).parent)
            self.dropped_image(Path(chosen))

    # ---- what becomes of them ------------------------------------------------------------

    def dropped_image(self, path: Path, onto_source: bool = False) -> None:
        """A PNG that carries a recipe asks what it is for; any other image is a source."""
        if onto_source or path.suffix.lower() != ".png":
            self.use_as_source(path)
            return
        recipe = self.read_recipe(path, self.form.request())
        if recipe.request is None and not recipe.problems:
            self.notices.banner.show_message("info", "No parameters found", recipe.note,
                                             action=USE_AS_SOURCE,
                                             on_action=lambda: self._use_from_banner(path))
            return
        choice = self.ask_drop_use(path)
        if choice == "source":
            self.use_as_source(path)
        elif choice == "recipe":
            self._apply_recipe(path, recipe)

    def ask_drop_use(self, path: Path) -> str:
        """"recipe", "source" or "cancel"; a method so tests can answer without a modal box."""
        box, answers = self.recipe_question(path)
        box.exec()
        return answers.get(box.clickedButton(), "cancel")

    def recipe_question(self, path: Path) -> tuple[QMessageBox, dict]:
        """The box, and its buttons' answers."""
        # Titled by the file: the image may have been dropped or opened from File > Open Image.
        box = QMessageBox(QMessageBox.Icon.Question, path.name,
                          f"{path.name} carries the settings it was made with.", parent=self.window)
        box.setInformativeText("Fill the form with them, or start from the image itself "
                               "(image to image)?")
        recipe = box.addButton("Load its recipe", QMessageBox.ButtonRole.AcceptRole)
        source = box.addButton(USE_AS_SOURCE, QMessageBox.ButtonRole.ActionRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(recipe)
        return box, {recipe: "recipe", source: "source"}

    def use_as_source(self, path: Path, inpaint: bool = False) -> None:
        """"Send to image to image" and "Inpaint": the image becomes the form's source."""
        self.form.source_panel.open_file(Path(path), edit_mask=inpaint)
        self.notices.status(f"Source image: {Path(path).name}", 5000)

    def _use_from_banner(self, path: Path) -> None:
        self.notices.banner.hide()
        self.use_as_source(path)

    def _apply_recipe(self, path: Path, recipe) -> bool:
        if recipe.problems:
            self.notices.banner.show_message("error", recipe.note, "\n".join(recipe.problems))
            return False
        if recipe.request is None:
            self.notices.banner.show_message("info", "No parameters found", recipe.note)
            return False
        self.form.set_request(recipe.request)
        self.form.seed.lock.setChecked(True)
        note = f"Form filled from {path.name}." + (f" {recipe.note}" if recipe.note else "")
        self.notices.banner.show_message("info", "", note)
        self._filled_note = note
        return True

    def withdraw_filled_note(self) -> None:
        """After the next edit or Generate the form is the person's own, not the file's."""
        if self._filled_note:
            self.notices.banner.withdraw(self._filled_note)
            self._filled_note = ""


def image_paths(mime) -> list[Path]:
    """The local image files a drag carries."""
    if mime is None or not mime.hasUrls():
        return []
    return [Path(u.toLocalFile()) for u in mime.urls()
            if u.isLocalFile() and u.toLocalFile().lower().endswith(IMAGE_SUFFIXES)]
