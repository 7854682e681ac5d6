"""Settings every test shares: no display, no network, no real user folders."""
import os
import tempfile

import pytest

# Set before anything imports Qt, Keras or TensorFlow.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
_SANDBOX = tempfile.mkdtemp(prefix="sd-desk-tests-")
# Tests must never read or write a real Keras cache or the user's data folder.
os.environ["KERAS_HOME"] = os.path.join(_SANDBOX, "keras")
os.environ["SD_DESK_MODELS_DIR"] = os.path.join(_SANDBOX, "models")
os.environ["SD_DESK_DATA_DIR"] = os.path.join(_SANDBOX, "data")

# What makes a test slow is what it needs: these build Stable Diffusion, start Ray,
# or freeze the app. `pytest -m "not slow"` skips them while iterating.
SLOW_FIXTURES = {"sd_weights", "sd_engine", "local_ray", "frozen_app", "checkpoint_files"}


def pytest_configure(config) -> None:
    config.addinivalue_line(
        "markers", "slow: builds Stable Diffusion, starts Ray or freezes the app (minutes); "
                   "skip with -m 'not slow'")


def pytest_collection_modifyitems(config, items) -> None:
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def library(tmp_path, monkeypatch):
    """A private checkpoint library (models folder and settings under tmp_path), the one
    the registry's lookups use for the test."""
    from engine.models import library as library_module
    lib = library_module.Library(tmp_path / "models")
    monkeypatch.setattr(library_module, "_LIBRARY", lib)
    monkeypatch.setenv("SD_DESK_DATA_DIR", str(tmp_path / "data"))  # its settings.json
    return lib
