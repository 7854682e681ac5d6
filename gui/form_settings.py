"""The form as the person left it: kept in the window's settings when it closes, and filled
back in when it opens (the source image by its stored ids)."""
from __future__ import annotations

import json

from PySide6.QtCore import QSettings

from gui.form import DEFAULTS, GenerationForm

GROUP = "form"


def save_form(form: GenerationForm, settings: QSettings) -> None:
    r = form.request()
    settings.beginGroup(GROUP)
    for key, value in (("prompt", form.prompt.toPlainText()),
                       ("negative_prompt", form.negative.toPlainText()),
                       ("seed", form.seed.edit.text()), ("seed_locked", form.seed.locked),
                       ("steps", r.steps), ("sampler", r.sampler), ("guidance", r.guidance),
                       # The box's own value: the demo model sends 1 but keeps what was set.
                       ("clip_skip", form.clip_skip.spin.value()), ("width", r.width),
                       ("height", r.height), ("batch", r.batch), ("model", r.model),
                       ("mixed_precision", r.mixed_precision), ("xla", r.xla)):
        settings.setValue(key, value)
    source = form.source_panel.saved_state()
    settings.setValue("source", json.dumps(source) if source is not None else "")
    settings.setValue("hires", json.dumps(form.hires.saved_state()))
    settings.endGroup()


def load_form(form: GenerationForm, settings: QSettings) -> None:
    settings.beginGroup(GROUP)
    try:
        if settings.contains("steps"):
            with form.filling():
                _fill(form, settings.value)
    finally:
        settings.endGroup()


def _fill(form: GenerationForm, get) -> None:
    try:
        form.prompt.setPlainText(str(get("prompt", "")))
        form.negative.setPlainText(str(get("negative_prompt", "")))
        form.seed.edit.setText(str(get("seed", "0")))
        form.seed.lock.setChecked(_bool(get("seed_locked", False)))
        form.steps.setValue(int(get("steps", DEFAULTS.steps)))
        # Forms saved before samplers existed ran DDIM.
        form.select_sampler(str(get("sampler", "ddim")))
        form.guidance.setValue(float(get("guidance", 7.5)))
        form.clip_skip.set_value(int(get("clip_skip", 1)))
        form.set_size(int(get("width", 512)), int(get("height", 512)))
        form.batch.setValue(int(get("batch", 1)))
        form.models.select(str(get("model", "")))
        form.mixed_precision.setChecked(_bool(get("mixed_precision", False)))
        form.xla.setChecked(_bool(get("xla", False)))
        hires = str(get("hires", "") or "")
        if hires:
            form.hires.restore_state(json.loads(hires))
        source = str(get("source", "") or "")
        if source:
            # By its stored ids; gone from the history folder, it is dropped with a note.
            form.source_panel.restore_state(json.loads(source))
    except (TypeError, ValueError):
        pass  # a damaged settings file falls back to defaults for what is left


def _bool(value) -> bool:
    # QSettings' INI backend hands booleans back as the strings "true"/"false".
    return value is True or str(value).lower() in ("true", "1")
