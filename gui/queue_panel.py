"""The job queue under the progress bar: the waiting jobs in run order, and what can be
done with them. Every request the window runs goes through here (`enqueue`).

Its actions run on the GUI thread and call the worker's queue and runner directly: a slot
of the worker object would be queued to the worker's thread, which is busy inside a
generation until the job ends.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Optional

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (QLabel, QListWidget, QListWidgetItem, QMessageBox, QToolButton,
                               QVBoxLayout, QWidget)

from engine.errors import InvalidRequest
from engine.jobs import ENDINGS, Job, JobDamaged, JobProgress, JobState, Queued, QueueChanged, Started
from gui.flow_layout import FlowLayout
from gui.notices import Notices

RESUME = "Resume the queue"


class QueuePanel(QWidget):
    """The running job first, marked so and with its progress, then the waiting jobs in run
    order, and what can be done with them: reorder, remove, run an interrupted one again,
    pause, cancel all."""

    jobs_removed = Signal(list)  # ids of waiting jobs taken out of the queue, which never end

    def __init__(self, worker, notices: Notices, parent: Optional[QWidget] = None) -> None:
        """`worker`: the gui.worker.GenerationWorker that owns the queue and runs its jobs."""
        super().__init__(parent)
        self.worker = worker
        self.notices = notices
        self.list = QListWidget()
        self.list.setObjectName("queueList")
        self.list.setMaximumHeight(120)
        # A row's state leads its text, so eliding the end keeps it: no sideways scroll.
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
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
        # Rows that wrap: a box layout squeezed the buttons below their text in a narrow
        # centre column ("Run…ain", "Can…all" at the default size).
        toolbar = QWidget()
        buttons = FlowLayout(toolbar)
        for w in (self.header, self.up, self.down, self.drop, self.again, self.pause_button,
                  self.stop_all):
            buttons.addWidget(w)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(toolbar)
        layout.addWidget(self.list)
        self._states: dict[int, JobState] = {}
        self._running: Optional[Job] = None
        self._running_phase = "starting"
        self._offer = ""  # the leftover-jobs banner's text, while it may be showing
        self.up.clicked.connect(lambda: self._act(lambda i: self.move_job(i, -1)))
        self.down.clicked.connect(lambda: self._act(lambda i: self.move_job(i, 1)))
        self.drop.clicked.connect(lambda: self._act(self.remove_job))
        self.again.clicked.connect(lambda: self._act(self.retry_job))
        self.pause_button.clicked.connect(lambda checked: self.set_paused(bool(checked)))
        self.stop_all.clicked.connect(lambda: self.cancel_all())
        self.list.currentRowChanged.connect(self._update_buttons)
        # A bound method: a lambda connected to the worker's signal would run on the worker thread.
        worker.event.connect(self._on_event)
        self.refresh()

    # ---- the queue's actions -------------------------------------------------------------

    def enqueue(self, requests: list) -> list[Optional[int]]:
        """Puts each request on the queue, in order, and lets the worker go on; their ids,
        None for one the queue refuses (a prompt too long to keep), which is said."""
        ids: list[Optional[int]] = []
        for request in requests:
            try:
                ids.append(self.worker.queue.add(request).id)
            except InvalidRequest as refused:
                self.notices.error("Not queued", str(refused))
                ids.append(None)
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
            self._withdraw_offer()

    def cancel_running(self) -> bool:
        """Stops the running job after its current step (Cancel, Esc); False: none runs.
        Asks the runner, not the progress view: its "started" may still be on its way."""
        return self.worker.runner.cancel()

    def cancel_all(self) -> None:
        count = self.unfinished_jobs()
        if count > 1 and not self.confirm_cancel_all(count):  # one job goes as Esc's would
            return
        removed = self.worker.runner.cancel_all()
        if removed:
            self.jobs_removed.emit(removed)

    def confirm_cancel_all(self, count: int) -> bool:
        """Whether to drop `count` jobs, which cannot be undone; a method so tests can answer."""
        box = QMessageBox(QMessageBox.Icon.Question, "Cancel all",
                          f"Cancel all {count} unfinished jobs?", parent=self.window())
        box.setInformativeText("The running job stops after its current step and the waiting "
                               "ones are removed from the queue. This cannot be undone.")
        drop = box.addButton("Cancel all jobs", QMessageBox.ButtonRole.DestructiveRole)
        keep = box.addButton("Keep them", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(keep)
        box.exec()
        return box.clickedButton() is drop

    def unfinished_jobs(self) -> int:
        return len(self.worker.queue.waiting()) + (self.worker.runner.running_job() is not None)

    def offer_leftover_jobs(self) -> None:
        """Jobs from the last session wait for the person: what stopped the app may stop it again."""
        left = self.worker.queue.waiting()
        if not left:
            return
        if not self.worker.queue.paused:
            self.worker.queue.pause()
        interrupted = sum(1 for job in left if job.state is JobState.INTERRUPTED)
        note = f" ({interrupted} interrupted: select it and press Run again)" if interrupted else ""
        self._offer = f"{len(left)} job(s) from the last session are waiting{note}."
        self.notices.banner.show_message("info", "", self._offer, action=RESUME,
                                         on_action=self._resume)

    def _resume(self) -> None:
        self.set_paused(False)

    def _withdraw_offer(self) -> None:
        """The leftover jobs' banner goes once they run or are gone: it would offer to
        resume an empty queue (seen after Cancel all)."""
        if self._offer:
            self.notices.banner.withdraw(self._offer)
            self._offer = ""

    # ---- the list ------------------------------------------------------------------------

    def refresh(self) -> None:
        jobs = self.worker.queue.jobs()
        running = next((job for job in jobs if job.state is JobState.RUNNING), None)
        # A damaged job stays listed (its row says so) until the person removes it.
        listed = [job for job in jobs if job.state.waiting or job.state is JobState.DAMAGED]
        self.set_jobs(listed, self.worker.queue.paused, running)

    def _on_event(self, event, _images: list) -> None:
        if isinstance(event, Started):
            self._running_phase = "starting"
        if isinstance(event, JobDamaged):
            self.notices.error("A queued job is damaged", event.message)
        if isinstance(event, (Queued, QueueChanged, Started, JobDamaged, *ENDINGS)):
            self.refresh()
        elif isinstance(event, JobProgress) and self._running is not None \
                and event.job_id == self._running.id:
            self._running_phase = event.describe().lower()
            self._show_running()

    def selected_id(self) -> Optional[int]:
        item = self.list.currentItem()
        return None if item is None else item.data(Qt.ItemDataRole.UserRole)

    def _act(self, fn: Callable[[int], None]) -> None:
        job_id = self.selected_id()
        if job_id is not None:
            fn(job_id)

    def set_jobs(self, jobs: list[Job], paused: bool = False, running: Optional[Job] = None) -> None:
        """`jobs`: the waiting ones in run order; `running`: the one running, listed first
        (not selectable: Cancel and Esc stop it)."""
        keep = self.selected_id()
        self.list.clear()
        self._states = {job.id: job.state for job in jobs}
        self._running = running
        if running is not None:
            item = QListWidgetItem()
            item.setFlags(Qt.ItemFlag.ItemIsEnabled)
            font = QFont(self.list.font())
            font.setBold(True)
            item.setFont(font)
            self.list.addItem(item)
            self._show_running()
        for job in jobs:
            text = _row_text(job)
            item = QListWidgetItem(text)
            item.setToolTip(text)
            item.setData(Qt.ItemDataRole.UserRole, job.id)
            self.list.addItem(item)
            if job.id == keep:
                self.list.setCurrentItem(item)
        text = f"Queue: {len(jobs)} waiting" if jobs else "Queue is empty"
        self.header.setText(text + (" (paused)" if paused else ""))
        self.pause_button.setChecked(paused)
        self.pause_button.setText("Resume" if paused else "Pause")
        if not jobs:
            self._withdraw_offer()
        self.list.setVisible(bool(jobs) or running is not None)
        for w in (self.up, self.down, self.drop, self.again, self.stop_all):
            w.setVisible(bool(jobs))
        self._update_buttons()

    def _show_running(self) -> None:
        item = self.list.item(0)
        if item is not None and self._running is not None:
            item.setText(f"Running, {self._running_phase} \u2014 {_row_text(self._running)}")
            item.setToolTip(item.text())

    def _update_buttons(self, *_args) -> None:
        first = 1 if self._running is not None else 0  # the first waiting job's row
        row = self.list.currentRow()
        self.up.setEnabled(row > first)
        self.down.setEnabled(first <= row < self.list.count() - 1)
        self.drop.setEnabled(row >= first)
        self.again.setEnabled(self._states.get(self.selected_id()) is JobState.INTERRUPTED)


def _row_text(job: Job) -> str:
    """The job's line with its state first (the end of a long line is elided)."""
    if job.state is JobState.DAMAGED:
        return job.describe()  # it has no settings to show
    plain = dataclasses.replace(job, state=JobState.PENDING).describe()
    return f"Interrupted \u2014 {plain}" if job.state is JobState.INTERRUPTED else plain


def _tool(text: str, tip: str) -> QToolButton:
    button = QToolButton()
    button.setText(text)
    button.setToolTip(tip)
    return button
