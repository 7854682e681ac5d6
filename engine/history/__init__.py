"""The history gallery's store: PNG files plus an SQLite index, no Qt.

    from engine.history import HistoryStore, Filters
    store = HistoryStore()            # default folder; HistoryStore(path) for another
    store.add_result(result)          # after a generation finishes
    store.page(0, 100, Filters(text="fox", favorites_only=True))
"""
from engine.history.reconcile import ReconcileReport
from engine.history.schema import HistoryError
from engine.history.store import Filters, HistoryStore, ImageDetail, ImageRecord

__all__ = ["Filters", "HistoryError", "HistoryStore", "ImageDetail", "ImageRecord", "ReconcileReport"]
