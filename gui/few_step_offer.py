"""Offers a few-step model's settings (LCM, SD-Turbo, Hyper-SD: engine/models/few_step.py)
under the form when the chosen checkpoint, or a LoRA the prompt names, is one; "Use these"
puts its steps, guidance and sampler into the form, where the person can still change them.

The files' headers are read again only when the model or the prompt's LoRA names change,
not at every keystroke (each read is a few kilobytes, cached per file version)."""
from __future__ import annotations

from typing import Callable, Optional

from PySide6.QtCore import QObject

from engine.models import few_step
from gui.form import GenerationForm
from gui.model_note import ModelNote

Lookup = Callable[[str, str], Optional[few_step.FewStep]]  # (model id, prompt) -> preset


class FewStepOffer(QObject):
    def __init__(self, form: GenerationForm, note: ModelNote, notices=None,
                 lookup: Lookup = few_step.for_model, parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self.form, self.note, self.notices, self.lookup = form, note, notices, lookup
        self.preset: Optional[few_step.FewStep] = None
        self._key: Optional[tuple] = None
        form.changed.connect(self.refresh)
        note.preset_requested.connect(self.apply)

    def refresh(self) -> None:
        prompt = self.form.prompt.toPlainText()
        key = (self.form.model_id(), few_step.lora_names(prompt))
        if key == self._key:
            return
        self._key = key
        try:
            self.preset = self.lookup(key[0], prompt)
        except Exception:  # noqa: BLE001 - an odd file must not break typing; no offer then
            self.preset = None
        if self.preset is None:
            self.note.offer("")
            return
        self.note.offer(f"A few-step {self.preset.kind} model: {self.preset.settings()} suit it.",
                        f"Recognised from {self.preset.source}. You can change any of them "
                        "afterwards.")

    def apply(self) -> None:
        preset = self.preset
        if preset is None:
            return
        self.form.steps.setValue(preset.steps)
        self.form.guidance.setValue(preset.guidance)
        self.form.select_sampler(preset.sampler)
        if self.notices is not None:
            self.notices.status(f"{preset.kind} settings: {preset.settings()}.", 5000)
