"""On PYTHONPATH, makes TensorFlow absent, as on a machine without it:
`find_spec` says None, `import tensorflow` raises ModuleNotFoundError, and
"tensorflow" never appears in sys.modules.

Not `sys.modules["tensorflow"] = None`: Keras reads `"tensorflow" in sys.modules`
as "TensorFlow is loaded" (keras.src.utils.backend_utils.in_tf_graph) and then
imports it, which no machine without TensorFlow would do."""
import importlib.machinery
import sys

_HIDDEN = ("tensorflow", "tensorflow_datasets", "tf_keras")


class _PathFinderWithoutTensorFlow(importlib.machinery.PathFinder):
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name.split(".")[0] in _HIDDEN:
            return None
        return super().find_spec(name, path, target)


sys.meta_path[:] = [_PathFinderWithoutTensorFlow if f is importlib.machinery.PathFinder else f
                    for f in sys.meta_path]
