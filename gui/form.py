"""The request form: prompt editors with live token counts, and every setting a request has.

Validation is GenerationRequest.validate() itself, so the form and the engine
can never disagree on what is allowed; each problem is shown under its field.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator, Optional

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout,
                               QLabel, QSpinBox, QVBoxLayout, QWidget)

from engine import preferences
from engine.examples import examples_for
from engine.prompt_rules import PromptRules, prompt_problems, rules_for
from engine.request import BATCH_RANGE, GUIDANCE_RANGE, STEPS_RANGE, GenerationRequest, Problem
from engine.samplers import names as sampler_names
from gui.form_fields import ClipSkipBox, PromptEdit, SeedEdit, error_label, prompt_header
from gui.hires_section import HiresSection
from gui.model_chooser import ModelChooser
from gui.network_picker import NetworkButtons
from gui.source_panel import SourcePanel
from gui.stack import size_pair, stacked
from gui.token_count import checking_rules, engine_rules, show_count

# (label, width, height); "Custom" keeps whatever the spin boxes hold.
SIZE_PRESETS = [
    ("Square 512", 512, 512),
    ("Portrait 512\u00d7768", 512, 768),
    ("Landscape 768\u00d7512", 768, 512),
    ("Square 768", 768, 768),
    ("Small 256", 256, 256),
    ("Tiny 128 (quick tests)", 128, 128),
]
CUSTOM = "Custom\u2026"

# model id -> that model's prompt rules (engine/prompt_rules.py), with a counter once one is loaded
RulesSource = Callable[[str], PromptRules]


DEFAULTS = GenerationRequest("")  # what a new user starts from
# The request's problems the source panel shows, under itself.
SOURCE_FIELDS = ("source", "strength", "mask_blur", "outpaint")


class GenerationForm(QWidget):
    changed = Signal()
    submit_requested = Signal()

    def __init__(self, models: ModelChooser, rules: RulesSource = rules_for,
                 parent: Optional[QWidget] = None,
                 preview: Callable[[], bool] = preferences.preview_enabled, sources=None,
                 settings: Optional[QSettings] = None, networks=None) -> None:
        """`models`: the model chooser, shown in the form's Model row.
        `preview` answers whether requests ask for per-step previews: the preference,
        asked at each request so a change in Edit > Preferences counts at once.
        `sources`: the SourceStore the source panel keeps images in (the history's);
        `settings`: where its file dialogs start. `networks`: where the LoRA and
        embedding pickers list files (gui/network_picker.py; the engine's by default)."""
        super().__init__(parent)
        self.models = models
        self._rules_source = rules
        self._preview = preview
        self._loading = False
        self._problems: list[Problem] = []
        # An empty prompt on a fresh form is not a mistake yet: its red message waits
        # until the person has typed in the box.
        self._prompt_touched = False

        self.prompt = PromptEdit("Describe the image")
        self.prompt.setObjectName("prompt")
        self.negative = PromptEdit("What to avoid (optional)")
        self.negative.setObjectName("negative_prompt")
        for edit, lines in ((self.prompt, 5), (self.negative, 3)):
            edit.setFixedHeight(edit.fontMetrics().lineSpacing() * lines + 14)
        self.prompt_tokens = QLabel()
        self.prompt_tokens.setObjectName("promptTokens")
        self.negative_tokens = QLabel()
        self.negative_tokens.setObjectName("negativeTokens")
        for label in (self.prompt_tokens, self.negative_tokens):
            label.setAlignment(Qt.AlignmentFlag.AlignRight)
            label.setProperty("role", "tokenCount")

        self.seed = SeedEdit()
        self.steps = QSpinBox()
        self.steps.setObjectName("steps")
        # The number boxes take far more than the valid range, as the size boxes do: a value
        # beyond it stays as typed and gets engine.request's message under the field (at a
        # maximum of 200, typing 300 silently left 30).
        self.steps.setRange(STEPS_RANGE[0], 99_999)
        self.steps.setValue(DEFAULTS.steps)
        self.sampler = QComboBox()
        self.sampler.setObjectName("sampler")
        for sampler_id in sampler_names.IDS:
            written, about = sampler_names.SAMPLERS[sampler_id]
            self.sampler.addItem(written, sampler_id)
            self.sampler.setItemData(self.sampler.count() - 1, about, Qt.ItemDataRole.ToolTipRole)
        self.select_sampler(DEFAULTS.sampler)
        self.guidance = QDoubleSpinBox()
        self.guidance.setObjectName("guidance")
        self.guidance.setRange(GUIDANCE_RANGE[0], 999.0)
        self.guidance.setSingleStep(0.5)
        self.guidance.setDecimals(2)  # recipes from other tools carry values like 4.25
        self.guidance.setValue(7.5)
        self.guidance.setToolTip("How closely to follow the prompt (classifier-free guidance scale).")
        self.clip_skip = ClipSkipBox()

        self.size_preset = QComboBox()
        self.size_preset.setObjectName("sizePreset")
        for label, w, h in SIZE_PRESETS:
            # A string, not a tuple: QVariant turns tuples into lists that findData() cannot match.
            self.size_preset.addItem(label, f"{w}x{h}")
        self.size_preset.addItem(CUSTOM, "")
        # Far wider than the valid range on purpose: an out-of-range size gets the engine's
        # message, not a silent clamp (at 2048, typing 4096 left 409).
        self.width_box = QSpinBox()
        self.width_box.setObjectName("width")
        self.height_box = QSpinBox()
        self.height_box.setObjectName("height")
        for box in (self.width_box, self.height_box):
            box.setRange(1, 99_999)
            box.setSingleStep(64)
            box.setValue(512)
            box.setSuffix(" px")
            # Room for four digits, not for the range's five: sized by 99999, the two boxes
            # made the form wider than its column at 900x600, where it was cut off.
            box.setMinimumWidth(box.fontMetrics().horizontalAdvance("8888 px") + 44)
        self.batch = QSpinBox()
        self.batch.setObjectName("batch")
        self.batch.setRange(BATCH_RANGE[0], 999)
        self.mixed_precision = QCheckBox("Mixed precision (float16)")
        self.mixed_precision.setObjectName("mixed_precision")
        self.mixed_precision.setToolTip("Faster and lighter on most GPUs; little gain on a CPU.")
        self.xla = QCheckBox("XLA compilation")
        self.xla.setObjectName("xla")
        self.xla.setToolTip("Compiles the model once (slow first run) for faster later steps. Measure before relying on it.")

        if sources is None:
            from engine.img2img.store import SourceStore
            sources = SourceStore.of_history()
        self.source_panel = SourcePanel(sources, settings)
        self.hires = HiresSection()
        self.size_note = self.hires.size_note  # shown under the size fields

        self.errors = {name: error_label(name) for name in (
            "prompt", "negative_prompt", "seed", "sampler", "steps", "guidance", "width", "height",
            "batch", "model", "clip_skip")}
        self.network_buttons = NetworkButtons(self, networks)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(prompt_header("Prompt", self.network_buttons.button("lora", self.prompt),
                                       self.network_buttons.button("embedding", self.prompt)))
        layout.addWidget(self.prompt)
        layout.addWidget(self.prompt_tokens)
        layout.addWidget(self.errors["prompt"])
        layout.addWidget(prompt_header("Negative prompt",
                                       self.network_buttons.button("embedding", self.negative)))
        layout.addWidget(self.negative)
        layout.addWidget(self.negative_tokens)
        layout.addWidget(self.errors["negative_prompt"])
        layout.addWidget(self.source_panel)

        grid = QFormLayout()
        grid.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        grid.addRow("Model", stacked(self.models, self.errors["model"]))
        grid.addRow("Seed", stacked(self.seed, self.errors["seed"]))
        grid.addRow("Sampler", stacked(self.sampler, self.errors["sampler"]))
        grid.addRow("Steps", stacked(self.steps, self.errors["steps"]))
        grid.addRow("Guidance", stacked(self.guidance, self.errors["guidance"]))
        grid.addRow("Clip skip", stacked(self.clip_skip, self.errors["clip_skip"]))
        grid.addRow("Size", stacked(self.size_preset, size_pair(self.width_box, self.height_box),
                                   self.errors["width"], self.errors["height"], self.size_note))
        grid.addRow("Batch", stacked(self.batch, self.errors["batch"]))
        grid.addRow("", stacked(self.mixed_precision, self.xla))
        layout.addLayout(grid)
        layout.addWidget(self.hires)
        layout.addStretch(1)

        self.prompt.textChanged.connect(self._touch_prompt)
        self.prompt.submit.connect(self.submit_requested)
        self.negative.submit.connect(self.submit_requested)
        for signal in (self.prompt.textChanged, self.negative.textChanged, self.seed.changed,
                       self.steps.valueChanged, self.sampler.currentIndexChanged,
                       self.guidance.valueChanged, self.clip_skip.changed,
                       self.batch.valueChanged, self.models.changed,
                       self.mixed_precision.toggled, self.xla.toggled):
            signal.connect(self._on_change)
        self.models.changed.connect(self._show_examples)
        self.models.changed.connect(self._follow_family)
        self.source_panel.changed.connect(self._on_change)
        self.hires.changed.connect(self._on_change)
        self.source_panel.canvas_changed.connect(self._follow_canvas)
        self.source_panel.active_changed.connect(self._size_follows_source)
        self.size_preset.currentIndexChanged.connect(self._on_preset)
        self.width_box.valueChanged.connect(self._on_size_typed)
        self.height_box.valueChanged.connect(self._on_size_typed)
        self._on_preset()
        self._follow_family()

    # ---- models and token counting ---------------------------------------------------

    def _show_examples(self) -> None:
        """Placeholders from the chosen model's own examples (engine.examples)."""
        if self.models.chosen() is None:
            return
        examples = examples_for(self.model_id())
        self.prompt.setPlaceholderText(f"Describe the image, e.g. \u201c{examples.prompt}\u201d")
        self.negative.setPlaceholderText(
            f"What to avoid, e.g. \u201c{examples.negative}\u201d (optional)" if examples.negative
            else "What to avoid (optional; this model has little use for it)")

    def _follow_family(self) -> None:
        """Clip skip, LoRA and embeddings belong to CLIP text encoders (Stable Diffusion's):
        the demo's own text model has no use for them (the engine's rule says which)."""
        clip = self.rules().takes_networks
        self.clip_skip.set_usable(clip)
        self.network_buttons.set_usable(clip, "This model reads no LoRA or embedding files.")

    def model_id(self) -> str:
        return self.models.model_id()

    def count_tokens_with(self, engine) -> None:
        """Once the engine is loaded: its cached tokenizer counts where a model's rules have
        no counter of their own (gui/token_count.py)."""
        self.set_prompt_rules(lambda model_id: engine_rules(model_id, engine))

    def set_prompt_rules(self, rules: RulesSource) -> None:
        self._rules_source = rules
        self._follow_family()
        self.revalidate()
        self.changed.emit()

    def rules(self) -> PromptRules:
        try:
            return self._rules_source(self.model_id())
        except Exception:  # noqa: BLE001 - rules that cannot be had must not break typing
            return rules_for(self.model_id())

    # ---- reading and filling -------------------------------------------------------

    def select_sampler(self, sampler_id: str) -> None:
        index = self.sampler.findData(sampler_id)
        if index >= 0:
            self.sampler.setCurrentIndex(index)

    def request(self) -> GenerationRequest:
        """What the form holds; an unreadable seed becomes -1 so validate() names it."""
        seed = self.seed.value()
        return GenerationRequest(
            prompt=self.prompt.toPlainText().strip(),
            negative_prompt=self.negative.toPlainText().strip(),
            seed=-1 if seed is None else seed,
            sampler=str(self.sampler.currentData()),
            steps=self.steps.value(),
            guidance=round(self.guidance.value(), 2),
            clip_skip=self.clip_skip.value(),
            width=self.width_box.value(),
            height=self.height_box.value(),
            batch=self.batch.value(),
            model=self.model_id(),
            mixed_precision=self.mixed_precision.isChecked(),
            xla=self.xla.isChecked(),
            preview=self._preview(),
            source=self.source_panel.current_source(),
            hires=self.hires.hires(),
        )

    def set_request(self, request: GenerationRequest) -> None:
        """Fills every field, seed included, then validates once."""
        self._loading = True
        try:
            self.prompt.setPlainText(request.prompt)
            self.negative.setPlainText(request.negative_prompt)
            self.seed.set_value(request.seed)
            self.steps.setValue(int(request.steps))
            self.select_sampler(request.sampler)
            self.guidance.setValue(float(request.guidance))
            self.clip_skip.set_value(int(request.clip_skip))
            self.set_size(int(request.width), int(request.height))
            self.batch.setValue(int(request.batch))
            if request.model:
                self.models.select(request.model)
            self.mixed_precision.setChecked(bool(request.mixed_precision))
            self.xla.setChecked(bool(request.xla))
            self.hires.set_hires(request.hires)
        finally:
            self._loading = False
        # Read from the store on a thread: the size follows once it is shown.
        self.source_panel.use_source(request.source)
        self._on_change()

    def _follow_canvas(self, width: int, height: int) -> None:
        self.set_size(width, height)

    def _size_follows_source(self, active: bool) -> None:
        tip = "The source image sets the size (outpaint margins add to it)." if active else ""
        for box in (self.size_preset, self.width_box, self.height_box):
            box.setEnabled(not active)
            box.setToolTip(tip)

    def set_size(self, width: int, height: int) -> None:
        index = self.size_preset.findData(f"{width}x{height}")
        self.size_preset.setCurrentIndex(index if index >= 0 else self.size_preset.count() - 1)
        self.width_box.setValue(width)
        self.height_box.setValue(height)

    # ---- validation ------------------------------------------------------------------

    def problems(self) -> list[Problem]:
        return list(self._problems)

    def revalidate(self) -> list[Problem]:
        request = self.request()
        rules = self.rules()
        for edit, label in ((self.prompt, self.prompt_tokens), (self.negative, self.negative_tokens)):
            show_count(label, rules, edit.toPlainText().strip())
        problems = prompt_problems(request, checking_rules(rules))
        if self.seed.value() is None:
            problems = [p for p in problems if p.field != "seed"]
            problems.append(Problem("seed", "Seed is empty: type a number or press the dice."))
        problems.extend(Problem("source", text) for text in self.source_panel.problems())
        if self.source_panel.busy:
            # Not under the panel (its notes say it): only why Generate waits.
            problems.append(Problem("source_busy", self.source_panel.busy_text()))
        self._problems = problems
        by_field: dict[str, list[str]] = {}
        for p in problems:
            by_field.setdefault(p.field, []).append(p.message)
        if not self._prompt_touched and not self.prompt.toPlainText().strip():
            by_field.pop("prompt", None)
        for name, label in self.errors.items():
            text = "\n".join(by_field.get(name, []))
            label.setText(text)
            label.setVisible(bool(text))
        self.source_panel.show_problems("\n".join(
            message for name in SOURCE_FIELDS for message in by_field.get(name, [])))
        self.hires.show_problems(request, by_field)
        return problems

    def _touch_prompt(self) -> None:
        if not self._loading:
            self._prompt_touched = True

    def only_missing_prompt(self) -> bool:
        return [p.field for p in self._problems] == ["prompt"] and not self.prompt.toPlainText().strip()

    def _on_change(self, *_args) -> None:
        if self._loading:
            return
        self.revalidate()
        self.changed.emit()

    def _on_preset(self, *_args) -> None:
        size = self.size_preset.currentData()
        if size:
            w, h = (int(v) for v in size.split("x"))
            for box, value in ((self.width_box, w), (self.height_box, h)):
                box.blockSignals(True)
                box.setValue(value)
                box.blockSignals(False)
        self._on_change()

    def _on_size_typed(self, *_args) -> None:
        # Typing a size that no preset has switches the preset to Custom.
        index = self.size_preset.findData(f"{self.width_box.value()}x{self.height_box.value()}")
        target = index if index >= 0 else self.size_preset.count() - 1
        if target != self.size_preset.currentIndex():
            self.size_preset.blockSignals(True)
            self.size_preset.setCurrentIndex(target)
            self.size_preset.blockSignals(False)
        self._on_change()

    def shutdown(self) -> None:
        """For closing the window: an image being read, or files being listed, finish unshown."""
        self.source_panel.shutdown()
        self.network_buttons.shutdown()

    # ---- filled from elsewhere (gui/form_settings.py) -------------------------------

    @contextmanager
    def filling(self) -> Iterator[None]:
        """Fields set one after another inside are validated once, at the end (and a prompt
        set this way is not one the person typed)."""
        self._loading = True
        try:
            yield
        finally:
            self._loading = False
        self._on_change()

