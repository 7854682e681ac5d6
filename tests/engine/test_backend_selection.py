"""Which Keras backend the app runs on: the precedence of the sources, installs, and
that the choice is made before anything imports Keras."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.compute import selection
from engine.settings_file import read_settings, settings_path, update_settings
from tests.bounds import CHILD_S

ROOT = Path(__file__).resolve().parents[2]
ALL = ["tensorflow", "jax", "torch"]
NO_GPU = lambda name: False  # noqa: E731


def keras_json(tmp_path, **config) -> Path:
    path = tmp_path / "keras.json"
    path.write_text(json.dumps(config))
    return path


def choose(tmp_path, env=None, preference=None, json_path=None, installed=ALL, gpu=NO_GPU):
    return selection.choose(environ=env or {}, preference=preference,
                            keras_json=json_path or tmp_path / "absent.json",
                            installed=installed, gpu_capable=gpu)


def test_the_environment_variable_wins_over_everything(tmp_path):
    choice = choose(tmp_path, {"KERAS_BACKEND": "torch"}, "jax",
                    keras_json(tmp_path, backend="tensorflow", floatx="float16"))
    assert (choice.backend, choice.source) == ("torch", "KERAS_BACKEND")
    assert "KERAS_BACKEND=torch" in choice.reason


def test_the_app_preference_wins_over_keras_json(tmp_path):
    choice = choose(tmp_path, {}, "jax", keras_json(tmp_path, backend="torch"))
    assert (choice.backend, choice.source) == ("jax", "preference")


def test_keras_json_is_honoured_without_a_preference(tmp_path):
    path = keras_json(tmp_path, backend="torch")
    choice = choose(tmp_path, {}, None, path)
    assert (choice.backend, choice.source) == ("torch", "keras.json")
    assert str(path) in choice.reason


def test_keras_json_is_read_from_keras_home(tmp_path):
    assert selection.keras_json_path({"KERAS_HOME": str(tmp_path)}) == tmp_path / "keras.json"
    keras_json(tmp_path, backend="jax", floatx="float32")
    choice = selection.choose(environ={"KERAS_HOME": str(tmp_path)}, installed=ALL,
                              gpu_capable=NO_GPU)
    assert (choice.backend, choice.source) == ("jax", "keras.json")


def test_the_file_keras_writes_by_itself_is_no_choice(tmp_path):
    """Keras writes backend "tensorflow" into a missing keras.json at first import:
    that must not hide the default (here a GPU build of JAX)."""
    written = keras_json(tmp_path, floatx="float32", epsilon=1e-07, backend="tensorflow",
                         image_data_format="channels_last")
    choice = choose(tmp_path, {}, None, written, gpu=lambda name: name == "jax")
    assert (choice.backend, choice.source) == ("jax", "default")


def test_the_default_is_the_fastest_on_a_cpu_unless_a_gpu_build_is_installed(tmp_path):
    assert choose(tmp_path).backend == selection.CPU_ORDER[0]
    assert choose(tmp_path, installed=["torch", "jax"]).backend == "jax"
    assert choose(tmp_path, installed=["torch"]).backend == "torch"
    gpu_torch = choose(tmp_path, gpu=lambda name: name == "torch")
    assert (gpu_torch.backend, gpu_torch.source) == ("torch", "default")
    assert "GPU" in gpu_torch.reason


def test_an_uninstalled_backend_is_passed_over_with_how_to_install_it(tmp_path):
    choice = choose(tmp_path, {"KERAS_BACKEND": "torch"}, "jax", installed=["tensorflow", "jax"])
    assert (choice.backend, choice.source) == ("jax", "preference")
    assert len(choice.notes) == 1
    assert "PyTorch" in choice.notes[0] and '".[torch]"' in choice.notes[0]


def test_unknown_or_unsupported_names_are_passed_over(tmp_path):
    choice = choose(tmp_path, {"KERAS_BACKEND": "numpy"}, "mxnet")
    assert choice.source == "default"
    assert [("numpy" in n, "mxnet" in n) for n in choice.notes] == [(True, False), (False, True)]


def test_names_are_read_as_keras_would_mean_them(tmp_path):
    assert choose(tmp_path, {"KERAS_BACKEND": " JAX "}).backend == "jax"
    assert choose(tmp_path, {"KERAS_BACKEND": ""}, "torch").backend == "torch"


def test_a_damaged_keras_json_is_a_note_not_a_crash(tmp_path):
    path = tmp_path / "keras.json"
    path.write_text("{not json")
    choice = choose(tmp_path, {}, None, path)
    assert choice.source == "default"
    assert "unreadable" in choice.notes[0]


def test_no_backend_at_all_says_how_to_install_one(tmp_path):
    with pytest.raises(RuntimeError, match=r"\.\[jax\]"):
        choose(tmp_path, installed=[])


def test_installed_asks_the_import_system_without_importing(monkeypatch):
    asked = []

    def find_spec(name):
        asked.append(name)
        return object() if name != "jaxlib" else None

    monkeypatch.setattr(selection.importlib.util, "find_spec", find_spec)
    assert selection.is_installed("tensorflow")
    assert not selection.is_installed("jax")  # jax without jaxlib cannot run
    assert not selection.is_installed("numpy")  # not one of ours
    assert asked == ["tensorflow", "jax", "jaxlib"]


def test_the_installed_list_matches_this_environment():
    import importlib.util
    for name in selection.BACKENDS:
        expected = all(importlib.util.find_spec(m) for m in selection.BACKENDS[name].modules)
        assert selection.is_installed(name) == bool(expected)


def test_a_torch_build_for_cuda_is_recognised_from_its_files(tmp_path, monkeypatch):
    package = tmp_path / "torch"
    package.mkdir()
    (package / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(selection.sys, "platform", "linux")
    for text, gpu in (("cuda: Optional[str] = '12.8'\nhip = None\n", True),
                      ("cuda: Optional[str] = None\nhip: Optional[str] = None\n", False),
                      ("cuda = None\nhip = '6.2'\n", True)):
        (package / "version.py").write_text("__version__ = '2.9'\n" + text)
        assert selection._torch_built_for_gpu() is gpu, text


def test_the_preference_is_saved_in_the_data_folder_and_cleared_with_none():
    try:
        path = selection.save_preference("jax")
        assert path == settings_path() and path.parent == Path(os.environ["SD_DESK_DATA_DIR"])
        assert selection.read_preference() == "jax"
        selection.save_preference(None)
        assert selection.read_preference() is None
    finally:
        selection.save_preference(None)
    with pytest.raises(ValueError, match="tensorflow, jax, torch"):
        selection.save_preference("numpy")


def test_the_settings_file_keeps_other_keys_and_survives_damage():
    try:
        update_settings(other="kept", compute_backend="torch")
        update_settings(compute_backend=None)
        assert read_settings() == {"other": "kept"}
        settings_path().write_text("[1, 2")
        assert read_settings() == {}
        settings_path().write_text("[1, 2]")
        assert read_settings() == {}
    finally:
        settings_path().unlink(missing_ok=True)


def test_apply_sets_the_environment_for_keras_and_child_processes(monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")  # restored after the test
    monkeypatch.setattr(selection, "_applied", None)
    monkeypatch.delitem(sys.modules, "keras", raising=False)  # as if not imported yet
    choice = selection.Choice("jax", "preference", "test")
    assert selection.apply(choice) == choice
    assert os.environ["KERAS_BACKEND"] == "jax"
    assert selection.applied() == choice


def run_python(code: str, **env) -> subprocess.CompletedProcess:
    environment = dict(os.environ, PYTHONPATH=str(ROOT), **env)
    environment.pop("KERAS_BACKEND", None)
    environment.update(env)
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=CHILD_S)


def test_main_applies_the_preference_before_keras_is_imported(tmp_path):
    """The whole path: a preference on disk, main.py's parser built, then Keras imported."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "settings.json").write_text(json.dumps({"compute_backend": "jax"}))
    done = run_python(
        "import sys, main\n"
        "main.choose_compute_backend()\n"
        "main.build_parser()\n"
        "assert 'keras' not in sys.modules, 'parser building imported keras'\n"
        "assert 'tensorflow' not in sys.modules, 'parser building imported tensorflow'\n"
        "import keras\n"
        "print(keras.config.backend())\n",
        SD_DESK_DATA_DIR=str(data))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "jax"


def test_an_uninstalled_preference_is_noted_on_stderr_and_the_app_goes_on(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    missing = next((n for n in selection.BACKENDS if not selection.is_installed(n)), None)
    if missing is None:
        pytest.skip("every backend is installed here")
    (data / "settings.json").write_text(json.dumps({"compute_backend": missing}))
    done = run_python("import main, os; main.choose_compute_backend(); "
                      "print(os.environ['KERAS_BACKEND'])", SD_DESK_DATA_DIR=str(data))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() in selection.installed_backends()
    assert f"note: preference names {selection.label(missing)}, ignored" in done.stderr
