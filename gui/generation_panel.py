"""The left column: the form, Generate and Cancel, why Generate cannot run yet, and a word
about the chosen model. Generate turns the form into a job on the queue."""
from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QScrollArea, QVBoxLayout, QWidget

from engine.examples import examples_for
from gui.clamped_label import ClampedLabel
from gui.few_step_offer import FewStepOffer
from gui.form import GenerationForm
from gui.history import Entry
from gui.model_chooser import ModelChooser
from gui.model_note import ModelNote
from gui.notices import Notices
from gui.progress_view import ProgressView
from gui.queue_panel import QueuePanel


class GenerationPanel(QWidget):
    generate_pressed = Signal()  # Generate, the button or its keys, whether or not a job follows

    def __init__(self, form: GenerationForm, models: ModelChooser, queue: QueuePanel,
                 progress: ProgressView, notices: Notices, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.form = form
        self.models = models
        self.queue = queue
        self.progress = progress
        self.notices = notices
        self.closing = False  # set by the window as it closes: nothing new starts
        self._generating = None  # the request waiting for its source image to be prepared
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
        self.few_step = FewStepOffer(form, self.model_note, notices, parent=self)

        layout = QVBoxLayout(self)
        # The word about the model scrolls with the form: fixed under Generate, it took the
        # room of every field but the two prompts at 900x600.
        scrolled = QWidget()
        column = QVBoxLayout(scrolled)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(form)
        column.addWidget(self.model_note)
        column.addStretch(1)
        self.form_scroll = QScrollArea()
        self.form_scroll.setWidgetResizable(True)
        self.form_scroll.setWidget(scrolled)
        self.form_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        # The form fits its column's width; only a short window scrolls it, vertically.
        self.form_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        layout.addWidget(self.form_scroll, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.generate_button, 1)
        buttons.addWidget(self.cancel_button)
        layout.addLayout(buttons)
        layout.addWidget(self.why_disabled)

        form.changed.connect(self.update_buttons)
        form.submit_requested.connect(self.generate)
        models.changed.connect(self._follow_model)
        progress.busy_changed.connect(self.update_buttons)
        self.generate_button.clicked.connect(self.generate)
        self.cancel_button.clicked.connect(self.cancel)

    # ---- Generate and Cancel -------------------------------------------------------------

    def why_not(self) -> str:
        """Why Generate is disabled, in words; empty when it is enabled."""
        problems = self.form.problems()
        if problems:
            first = problems[0].message
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            return first + more
        model = self.models.chosen()
        if model is not None and not model.usable:
            return f"{model.label} has no weights yet: download or import them, or pick another model."
        if self.closing:
            return "Closing\u2026"
        return ""

    def update_buttons(self, *_args) -> None:
        reason = self.why_not()
        self.generate_button.setEnabled(not reason)
        self.why_disabled.setProperty("tone", "hint" if self.form.only_missing_prompt() else "error")
        self.why_disabled.style().unpolish(self.why_disabled)
        self.why_disabled.style().polish(self.why_disabled)
        self.why_disabled.setText(reason)
        self.why_disabled.setVisible(bool(reason))
        self.generate_button.setToolTip(reason or "Generate (Ctrl+Enter)")
        busy = self.progress.busy
        self.generate_button.setText("Add to queue" if busy else "Generate")
        self.cancel_button.setEnabled(busy)

    def generate(self) -> Optional[int]:
        """The form's request on the queue: its job id, or None when the form refuses it or
        its source image is still to be prepared (then it is queued once that is done)."""
        self.generate_pressed.emit()
        self.form.revalidate()
        self.update_buttons()
        if not self.generate_button.isEnabled():
            return None
        if not self.form.seed.locked:
            # Unlocked means a fresh seed per Generate, written into the field so it is never a mystery.
            self.form.seed.randomize()
        request = self.form.request()
        if self.form.revalidate():
            return None
        if request.source is None:
            return self.queue.enqueue([request])[0]
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
                self.notices.error("Source image not usable", problem)
            self.update_buttons()
            return
        self.queue.enqueue([request.replace(source=prepared.source, width=prepared.width,
                                            height=prepared.height)])
        self.update_buttons()

    def cancel(self) -> None:
        if self.queue.cancel_running():
            self.progress.say_cancelling()

    # ---- filling the form ----------------------------------------------------------------

    def reuse(self, entry: Entry) -> None:
        """"Reuse parameters": a gallery image's recipe in the form, its seed locked."""
        request = entry.request
        if not self.models.has(request.model):
            request = request.replace(model=self.form.model_id())
        self.form.set_request(request)
        self.form.seed.lock.setChecked(True)  # reusing a seed only means something if it stays
        self.notices.status(f"Form filled from image {entry.id}, seed {request.seed} locked.", 5000)

    def _follow_model(self) -> None:
        model = self.models.chosen()
        if model is not None:
            examples = examples_for(model.id)
            self.model_note.show_about(examples.about, examples.words is not None)
        self.update_buttons()
