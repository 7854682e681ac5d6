"""Settings every test shares: no display, no network, no real user folders."""
import os
import tempfile

# Set before anything imports Qt, Keras or TensorFlow.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
_SANDBOX = tempfile.mkdtemp(prefix="sd-desk-tests-")
# Tests must never read or write a real Keras cache or the user's data folder.
os.environ["KERAS_HOME"] = os.path.join(_SANDBOX, "keras")
os.environ["SD_DESK_MODELS_DIR"] = os.path.join(_SANDBOX, "models")
os.environ["SD_DESK_DATA_DIR"] = os.path.join(_SANDBOX, "data")
