"""The job queue under the progress bar: the waiting jobs in run order, and what can be
done with them."""
from __future__ import annotations

from typing import Callable, Optional

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QToolButton, QVBoxLayout, QWidget

from engine.jobs import Job, JobState


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
