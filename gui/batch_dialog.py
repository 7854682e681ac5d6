"""Tools > Batch / X-Y plot: prompts and up to two grid axes, made into jobs on the window's
queue exactly as `python main.py batch` makes them (engine.batch); gui/batch_run.py follows
them and shows the labelled grid once every job of the batch has ended.

The dialog only gathers text: engine.batch parses it and words every problem.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFileDialog, QGridLayout,
                               QHBoxLayout, QLabel, QLineEdit, QPlainTextEdit, QPushButton,
                               QVBoxLayout, QWidget)

from engine.batch import BatchError
from engine.batch.axes import AXIS_NAMES, parse_axes
from engine.batch.plan import BatchPlan, plan_batch
from engine.batch.prompts import parse_prompts, read_prompt_file
from engine.request import GenerationRequest
from gui.folders import remember_folder, start_folder

NO_AXIS = ""
AXIS_TITLES = ("Columns (X)", "Rows (Y)")  # the grid's first axis heads its columns
PROMPTS_SOURCE = "the prompt list"
VALUE_HINTS = {"steps": "10,20,30", "guidance": "5,7.5,10", "seed": "1,2,3",
               "size": "512x512,512x768", "sampler": "DDIM,Euler a", "prompt": "cat,dog,fox",
               "clip-skip": "1,2"}


class BatchDialog(QDialog):
    """`base` is the form's request; every job starts from it. `new_seed` (the form's dice,
    when its seed is unlocked) draws the batch's seed on Queue, as Generate would."""

    planned = Signal(object)  # the BatchPlan, once the person presses Queue

    def __init__(self, base: GenerationRequest, parent: Optional[QWidget] = None,
                 new_seed: Optional[Callable[[], int]] = None,
                 settings=None) -> None:
        super().__init__(parent)
        self.setObjectName("batchDialog")
        self.setWindowTitle("Batch / X-Y plot")
        self.base = base
        self._new_seed = new_seed
        self._settings = settings
        self.plan: Optional[BatchPlan] = None

        self.prompts = QPlainTextEdit(base.prompt)
        self.prompts.setObjectName("batchPrompts")
        self.prompts.setPlaceholderText("One prompt per line; lines starting with # are comments.")
        self.prompts.setTabChangesFocus(True)  # a typed tab would be a control character
        self.load_button = QPushButton("Load Prompt File\u2026")
        self.load_button.setObjectName("loadPrompts")
        self.axes: list[tuple[QComboBox, QLineEdit]] = []
        axes_grid = QGridLayout()
        for row, title in enumerate(AXIS_TITLES):
            name = QComboBox()
            name.setObjectName(f"axisName{row}")
            name.addItem("(none)", NO_AXIS)
            for axis in AXIS_NAMES:
                name.addItem(axis, axis)
            values = QLineEdit()
            values.setObjectName(f"axisValues{row}")
            values.setPlaceholderText("V1,V2,...")
            name.currentIndexChanged.connect(lambda _i, n=name, v=values: self._axis_chosen(n, v))
            values.textChanged.connect(self.check)
            axes_grid.addWidget(QLabel(title), row, 0)
            axes_grid.addWidget(name, row, 1)
            axes_grid.addWidget(values, row, 2)
            self.axes.append((name, values))
        axes_grid.setColumnStretch(2, 1)
        self.problems = QLabel()
        self.problems.setObjectName("batchProblems")
        self.problems.setProperty("role", "fieldError")
        self.problems.setWordWrap(True)
        self.summary = QLabel()
        self.summary.setObjectName("batchSummary")
        self.summary.setProperty("role", "hint")
        self.summary.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.queue_button = self.buttons.addButton("Queue", QDialogButtonBox.ButtonRole.AcceptRole)
        self.queue_button.setObjectName("queueBatch")

        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        top.addWidget(QLabel("Prompts"), 1)
        top.addWidget(self.load_button)
        layout.addLayout(top)
        layout.addWidget(self.prompts, 1)
        layout.addLayout(axes_grid)
        note = QLabel("Other settings come from the form. Values are separated by commas; "
                      "quote a value that holds one.")
        note.setProperty("role", "hint")
        note.setWordWrap(True)
        layout.addWidget(note)
        layout.addWidget(self.problems)
        layout.addWidget(self.summary)
        layout.addWidget(self.buttons)
        self.prompts.textChanged.connect(self.check)
        self.load_button.clicked.connect(self.choose_prompt_file)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.resize(620, 520)
        self.check()

    # ---- reading the form ------------------------------------------------------------

    def set_axis(self, row: int, name: str, values: str) -> None:
        combo, edit = self.axes[row]
        combo.setCurrentIndex(combo.findData(name))
        edit.setText(values)

    def axis_specs(self) -> list[str]:
        """What the CLI's `--grid` options would say."""
        return [f"{combo.currentData()}={edit.text()}" for combo, edit in self.axes
                if combo.currentData() != NO_AXIS]

    def build(self, base: GenerationRequest) -> BatchPlan:
        """The CLI's order: every prompt and axis problem at once, then the plan's own."""
        problems, prompts, axes = [], [], []
        for step in (lambda: prompts.extend(parse_prompts(self.prompts.toPlainText(),
                                                          PROMPTS_SOURCE)),
                     lambda: axes.extend(parse_axes(self.axis_specs()))):
            try:
                step()
            except BatchError as error:
                problems.extend(error.problems)
        if problems:
            raise BatchError(problems)
        return plan_batch(prompts, axes, base.replace(prompt=prompts[0].text))

    def check(self) -> Optional[BatchPlan]:
        """Shows the problems, or what Queue will add; Queue is enabled only for a sound batch."""
        try:
            plan = self.build(self.base)
        except BatchError as error:
            self.problems.setText("\n".join(error.problems))
            self.problems.setVisible(True)
            self.summary.setVisible(False)
            self.queue_button.setEnabled(False)
            return None
        self.problems.setVisible(False)
        grids = len(plan.grids())
        self.summary.setText(f"{len(plan.jobs)} job{'s' if len(plan.jobs) != 1 else ''}, "
                             f"{plan.images} image{'s' if plan.images != 1 else ''}"
                             + (f", {grids} grid{'s' if grids != 1 else ''}" if grids else ""))
        self.summary.setVisible(True)
        self.queue_button.setEnabled(True)
        return plan

    def _axis_chosen(self, combo: QComboBox, edit: QLineEdit) -> None:
        name = combo.currentData()
        hint = VALUE_HINTS.get(name, "V1,V2,...")
        if name == "model":
            from engine.models.registry import all_model_ids
            hint = ",".join(all_model_ids())
        edit.setPlaceholderText(hint)
        self.check()

    def choose_prompt_file(self) -> None:
        start = start_folder(self._settings) if self._settings is not None else ""
        chosen, _ = QFileDialog.getOpenFileName(self, "Open a prompt file", start,
                                                "Text files (*.txt);;All files (*)")
        if chosen:
            if self._settings is not None:
                remember_folder(self._settings, Path(chosen).parent)
            self.load_prompt_file(Path(chosen))

    def load_prompt_file(self, path: Path) -> bool:
        """The file's text into the list, comments and all; its problems named, the list kept."""
        try:
            read_prompt_file(path)  # the file's own rules (readable, UTF-8) and messages
        except BatchError as error:
            self.problems.setText("\n".join(error.problems))
            self.problems.setVisible(True)
            return False
        self.prompts.setPlainText(Path(path).read_text(encoding="utf-8-sig"))
        return True

    # ---- queueing --------------------------------------------------------------------

    def accept(self) -> None:
        if self.check() is None:
            return
        base = self.base
        if self._new_seed is not None:
            base = base.replace(seed=self._new_seed())
        try:
            self.plan = self.build(base)
        except BatchError as error:  # a fresh seed is always valid; kept for safety's sake
            self.problems.setText("\n".join(error.problems))
            self.problems.setVisible(True)
            return
        self.planned.emit(self.plan)
        super().accept()
