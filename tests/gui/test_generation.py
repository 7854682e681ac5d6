"""Prompt to progress to gallery, driven through the window with the fake engine."""
from __future__ import annotations

import threading

from PySide6.QtCore import Qt

from engine.jobs import Failed, Finished, JobProgress, Started
from engine.request import MAX_SEED


def on(window, kind, fn):
    """Calls fn(event, images) for each event of `kind` (on the thread that emitted it)."""
    window.worker.event.connect(lambda event, images: isinstance(event, kind) and fn(event, images))


def is_started(event, images):
    return isinstance(event, Started)


def fill(window, prompt="a red circle on a blue background", steps=4, seed=None):
    window.form.prompt.setPlainText(prompt)
    window.form.steps.setValue(steps)
    window.form.set_size(128, 128)
    if seed is not None:
        window.form.seed.set_value(seed)
        window.form.seed.lock.setChecked(True)


def test_generate_shows_progress_eta_preview_and_lands_in_gallery(qtbot, window, engine, history):
    engine.hold_at_step = 3
    fill(window, steps=4, seed=42)
    previews = []
    on(window, JobProgress, lambda e, images: images and previews.append(images[0]))

    with qtbot.waitSignal(window.worker.event, timeout=5000, check_params_cb=is_started):
        qtbot.keyClick(window.form.prompt, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(engine.holding.is_set, timeout=5000)
    # Two steps done at 0.5 s each: two left, and no decode time known yet.
    qtbot.waitUntil(lambda: window.progress.phase.text().startswith("Step 2 of 4"), timeout=5000)
    assert "about 1 s left" in window.progress.phase.text()
    assert window.progress.bar.maximum() == 4 and window.progress.bar.value() == 2
    assert window.progress.preview.current() is not None and not window.progress.preview.current().isNull()
    assert window.generation.generate_button.text() == "Add to queue"
    assert window.generation.cancel_button.isEnabled()

    with qtbot.waitSignal(window.progress.job_over, timeout=5000):
        engine.proceed.set()
    assert len(previews) == 4
    assert previews[0].pixelColor(0, 0) != previews[-1].pixelColor(0, 0)
    assert engine.requests[0].seed == 42
    assert threading.get_ident() not in engine.threads  # the engine never ran on the GUI thread
    assert window.progress.phase.text().startswith("Done: 1 image")
    assert window.gallery.model.rowCount() == 1
    entry = window.gallery.selected_entry()
    assert entry is not None and entry.request.seed == 42
    assert "Seed 42" in window.gallery.details.info.toPlainText()
    assert not window.generation.cancel_button.isEnabled()


def test_eta_counts_decode_time_measured_by_the_previous_job(qtbot, window, engine):
    fill(window, steps=2, seed=1)
    with qtbot.waitSignal(window.progress.job_over, timeout=5000):
        window.generation.generate()
    etas = []
    on(window, JobProgress, lambda p, _: p.phase == "denoising" and etas.append(p.eta_seconds))
    with qtbot.waitSignal(window.progress.job_over, timeout=5000):
        window.generation.generate()
    # Step 1 of 2 at 0.5 s a step, plus the 1 s the first job's decode took.
    assert etas == [1.5, 1.0]


def test_escape_cancels_the_running_job_and_saves_nothing(qtbot, window, engine, history):
    engine.hold_at_step = 2
    fill(window, steps=5)
    window.generation.generate()
    qtbot.waitUntil(engine.holding.is_set, timeout=5000)
    with qtbot.waitSignal(window.progress.job_over, timeout=5000):
        qtbot.keyClick(window, Qt.Key.Key_Escape)
    assert window.progress.phase.text() == "Cancelled"
    assert window.progress.preview.current() is None  # the partial preview does not stay as if a result
    assert history.count() == 0
    assert window.gallery.model.rowCount() == 0
    assert window.generation.generate_button.text() == "Generate"


def test_a_cancel_during_decoding_keeps_the_images(qtbot, window, engine, history):
    """Decoding takes seconds and the steps are all done: a cancel then finishes the job."""
    engine.hold_at_decoding = True
    fill(window, steps=3, seed=7)
    window.form.batch.setValue(2)
    window.generation.generate()
    qtbot.waitUntil(engine.holding.is_set, timeout=5000)
    qtbot.waitUntil(lambda: window.progress.phase.text().startswith("Decoding"), timeout=5000)
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    with qtbot.waitSignal(window.progress.job_over, timeout=5000) as ended:
        engine.proceed.set()
    assert ended.args[1] == "finished"
    assert window.progress.phase.text().startswith("Done: 2 images")
    assert history.count() == 2 and window.gallery.model.rowCount() == 2
    assert window.progress.preview.current() is not None  # the images, not a cleared preview
    assert window.gallery.selected_entry().request.seed in (7, 8)
    assert not window.generation.cancel_button.isEnabled()


def test_errors_are_shown_and_the_queue_goes_on(qtbot, window, engine):
    engine.hold_at_step = 1
    fill(window, prompt="held first", steps=2)
    window.generation.generate()
    qtbot.waitUntil(engine.holding.is_set, timeout=5000)
    for prompt in ("oom please", "missing weights", "a fine picture"):
        window.form.prompt.setPlainText(prompt)
        window.generation.generate()
    failures, finished = [], []
    on(window, Failed, lambda e, _: failures.append(e.title))
    on(window, Finished, lambda e, _: finished.append(e))
    engine.hold_at_step = None
    engine.proceed.set()
    # The lists fill on the worker thread; the window catches up through its event loop.
    qtbot.waitUntil(lambda: len(finished) == 2 and window.gallery.model.rowCount() == 2, timeout=5000)
    assert failures == ["Out of memory", "Missing model weights"]
    assert [o.request.prompt for o in finished] == ["held first", "a fine picture"]
    # The banner shows the last error; the app stayed usable and made the third image.
    assert window.banner.isVisible() and window.banner.kind == "error"
    assert "kcv_diffusion_model.h5" in window.banner.text.text()


def test_first_out_of_memory_message_is_written_for_people(qtbot, window):
    fill(window, prompt="oom", steps=2)
    window.generation.generate()
    qtbot.waitUntil(lambda: window.banner.title.text() == "Out of memory", timeout=5000)
    assert "256" in window.banner.text.text()
    assert window.progress.phase.text() == "Failed: Out of memory"


def test_unlocked_seed_is_new_each_time_and_shown(qtbot, window, engine):
    fill(window, steps=1)
    window.form.seed.lock.setChecked(False)
    seeds = []
    for _ in range(2):
        with qtbot.waitSignal(window.progress.job_over, timeout=5000):
            window.generation.generate()
        seeds.append(window.form.seed.value())
    assert [r.seed for r in engine.requests] == seeds
    assert seeds[0] != seeds[1]


def test_seed_beyond_32_bit_spin_box_range_round_trips(qtbot, window, engine):
    fill(window, steps=1, seed=MAX_SEED)
    with qtbot.waitSignal(window.progress.job_over, timeout=5000):
        window.generation.generate()
    assert engine.requests[-1].seed == MAX_SEED == 2**32 - 1
    window.form.seed.set_value(2**40)
    assert "Seed" in window.generation.why_disabled.text()
    assert window.form.errors["seed"].isVisible()
    assert not window.generation.generate_button.isEnabled()


def test_thread_local_state_survives_from_one_job_to_the_next(qtbot, window, engine):
    """Keras' dtype policy and TensorFlow's eager context live in thread-locals."""
    fill(window, steps=1, seed=1)
    for _ in range(3):
        with qtbot.waitSignal(window.progress.job_over, timeout=5000):
            window.generation.generate()
    assert len(engine.threads) == 1
    assert engine.calls_seen_by_thread_local == [1, 2, 3]
