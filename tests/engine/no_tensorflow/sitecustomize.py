"""On PYTHONPATH, makes TensorFlow impossible to import, as on a machine without
it: `import tensorflow` raises ImportError and find_spec says it is absent."""
import sys

for _name in ("tensorflow", "tensorflow_datasets", "tf_keras"):
    sys.modules[_name] = None
