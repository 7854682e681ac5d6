"""Everything that makes images, with no Qt: used by the CLI, the GUI's worker and benchmarks.

For scripts: `engine.open_model(name_or_path)` gives a model's networks as Keras models
(engine/scripting.py).
"""

# TensorFlow's shared library exports its own SQLite, built without FTS5. Whichever
# loads first wins the symbols, so Python's sqlite3 must load before any engine
# module pulls in TensorFlow, or the history's full-text index cannot open.
import sqlite3  # noqa: F401

from engine import compute  # noqa: E402

compute.prepare_environment()


def __getattr__(name: str):
    # Lazy: importing `engine` must stay free of Keras (main.py picks the backend first).
    if name == "open_model":
        from engine.scripting import open_model
        return open_model
    raise AttributeError(f"module 'engine' has no attribute {name!r}")
