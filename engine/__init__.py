"""Everything that makes images, with no Qt: used by the CLI, the GUI's worker and benchmarks."""

# TensorFlow's shared library exports its own SQLite, built without FTS5. Whichever
# loads first wins the symbols, so Python's sqlite3 must load before any engine
# module pulls in TensorFlow, or the history's full-text index cannot open.
import sqlite3  # noqa: F401

from engine import compute  # noqa: E402

compute.prepare_environment()
