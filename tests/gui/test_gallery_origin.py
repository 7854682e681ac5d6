"""Images an API client queued are marked in the gallery (issue 28): a badge on the thumbnail
in the theme's colours, "Queued by: the API" in the details and the tooltip, and `from:api`
in the search (the real store's rule, through the adapter)."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from engine.events import GeneratedImage, GenerationResult
from engine.jobs.job import API
from engine.request import GenerationRequest
from gui.gallery import EntryRole, badge_colours
from gui.theme import apply_theme
from tests.gui.test_contrast import contrast


def _request(prompt: str, seed: int) -> GenerationRequest:
    return GenerationRequest(prompt, steps=2, width=128, height=128, seed=seed, model="demo")


def _fill_pixels(view, index, colour: str) -> int:
    """How many pixels of the item's cell are exactly the badge's fill."""
    image = view.viewport().grab(view.visualRect(index)).toImage()
    target = QColor(colour)
    return sum(image.pixelColor(x, y) == target
               for y in range(image.height()) for x in range(image.width()))


def test_an_api_image_is_marked_in_the_gallery_and_its_details(qtbot, restore_theme, window):
    apply_theme("dark", restore_theme)
    queue = window.worker.queue
    queue.add(_request("queued by a client", 3), origin=API)
    queue.add(_request("queued at the window", 4))
    window.worker.wake()
    model = window.gallery.model
    qtbot.waitUntil(lambda: model.total == 2, timeout=10_000)
    qtbot.waitUntil(window.gallery.thumbs.idle, timeout=5_000)
    by_prompt = {model.entry(row).request.prompt: model.index(row) for row in range(2)}
    api, own = by_prompt["queued by a client"], by_prompt["queued at the window"]
    assert api.data(EntryRole).origin == "api" and own.data(EntryRole).origin == ""
    assert api.data(Qt.ItemDataRole.ToolTipRole).startswith("Queued by: the API\n")
    assert "Queued by" not in own.data(Qt.ItemDataRole.ToolTipRole)

    view = window.gallery.view
    view.clearSelection()
    view.setCurrentIndex(api)
    assert "Queued by: the API" in window.gallery.details.info.toPlainText()
    view.setCurrentIndex(own)
    assert "Queued by" not in window.gallery.details.info.toPlainText()

    view.clearSelection()
    for scheme in ("dark", "light"):
        apply_theme(scheme, restore_theme)
        fill, _text = badge_colours(scheme)
        qtbot.wait(10)
        # The badge is drawn on the API's image only, in this theme's colours.
        assert _fill_pixels(view, api, fill) >= 40, scheme
        assert _fill_pixels(view, own, fill) == 0, scheme


@pytest.mark.parametrize("scheme", ["dark", "light"])
def test_the_badge_text_is_readable_on_its_fill(scheme):
    fill, text = badge_colours(scheme)
    assert contrast(fill, text) >= 4.5  # WCAG AA for small text


def test_the_real_store_marks_and_finds_api_images_through_the_adapter(tmp_path):
    from engine.history import HistoryStore
    from gui.history import StoreAdapter

    store = StoreAdapter(HistoryStore(tmp_path / "h"))
    try:
        for seed, origin in ((1, API), (2, "")):
            request = _request(f"a fox {seed}", seed)
            image = GeneratedImage(np.full((128, 128, 3), 50 * seed, np.uint8), seed)
            store.add_result(GenerationResult(request, [image], "demo", "CPU"), origin=origin)
        assert store.count("from:api") == 1
        found, = store.page(0, 10, "fox from:api")
        assert found.origin == "api" and found.queued_by == "Queued by: the API"
        assert store.get(found.id).origin == "api"
        assert store.count("fox") == 2
    finally:
        store.close()
