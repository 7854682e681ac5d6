"""Edit > Preferences' values: each feeds the one place that decides it; the environment wins."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine import preferences
from engine import locations
from engine.default_model import default_model_id
from engine.settings_file import read_settings, settings_path
from tests.bounds import CHILD_S

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def platform(monkeypatch, tmp_path):
    """No SD_DESK_DATA_DIR: the platform's folder, moved into tmp_path; no folder setting left."""
    folder = tmp_path / "platform"
    monkeypatch.delenv(locations.DATA_DIR_ENV, raising=False)
    monkeypatch.delenv(locations.MODELS_DIR_ENV, raising=False)
    monkeypatch.setattr(locations, "platform_data_dir", lambda: folder)
    yield folder
    locations.set_data_dir_setting(None)
    locations.set_models_dir_setting(None)


def test_the_data_folder_is_the_variable_then_the_preference_then_the_platform(
        platform, tmp_path, monkeypatch):
    assert locations.app_data_dir() == platform
    preferences.save(data_dir=tmp_path / "chosen")
    assert locations.app_data_dir() == platform, "a change waits for the next start"
    preferences.apply_folders()
    assert locations.app_data_dir() == tmp_path / "chosen"
    assert locations.app_models_dir() == tmp_path / "chosen" / "models"
    # settings.json holds the preference, so it stays where it was found
    assert settings_path() == platform / "settings.json"
    monkeypatch.setenv(locations.DATA_DIR_ENV, str(tmp_path / "env"))
    assert locations.app_data_dir() == tmp_path / "env"
    assert preferences.overridden_by(preferences.DATA_DIR) == locations.DATA_DIR_ENV


def test_the_models_folder_is_the_variable_then_the_preference_then_under_the_data_folder(
        platform, tmp_path, monkeypatch):
    assert locations.app_models_dir() == platform / "models"
    preferences.save(models_dir=tmp_path / "weights")
    preferences.apply_folders()
    assert locations.app_models_dir() == tmp_path / "weights"
    assert locations.search_dirs()[1] == tmp_path / "weights"
    monkeypatch.setenv(locations.MODELS_DIR_ENV, str(tmp_path / "env-models"))
    assert locations.app_models_dir() == tmp_path / "env-models"
    preferences.save(models_dir=None)
    preferences.apply_folders()
    monkeypatch.delenv(locations.MODELS_DIR_ENV)
    assert locations.app_models_dir() == platform / "models"


def test_a_folder_that_cannot_be_created_is_refused_and_nothing_is_saved(platform, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(preferences.PreferenceError) as raised:
        preferences.save(theme="dark", data_dir=blocker / "data")
    message = str(raised.value)
    assert message.startswith(f"The data folder {blocker / 'data'} cannot be used: ")
    assert "Not a directory" in message or "exists" in message
    assert read_settings() == {}, "the theme must not be half-saved either"
    with pytest.raises(preferences.PreferenceError, match="must be a full path"):
        preferences.save(models_dir=Path("relative/models"))


def test_a_good_folder_is_created_and_kept(platform, tmp_path):
    preferences.save(models_dir=tmp_path / "new" / "models")
    assert (tmp_path / "new" / "models").is_dir()
    assert preferences.folder(preferences.MODELS_DIR) == tmp_path / "new" / "models"
    assert list((tmp_path / "new" / "models").iterdir()) == [], "the write probe is removed"


def test_preview_theme_and_default_model_are_kept_beside_the_backend(platform):
    assert preferences.preview_enabled() and preferences.theme() == "system"
    assert preferences.default_model() is None
    from engine.compute import selection
    selection.save_preference("jax")
    preferences.save(preview=False, theme="light", default_model="demo")
    assert not preferences.preview_enabled()
    assert preferences.theme() == "light" and preferences.default_model() == "demo"
    assert json.loads(settings_path().read_text()) == {
        "compute_backend": "jax", "preview": False, "theme": "light", "default_model": "demo"}
    preferences.save(preview=True, theme="system", default_model=None)
    assert read_settings() == {"compute_backend": "jax"}, "defaults are not written out"
    with pytest.raises(preferences.PreferenceError, match="Unknown theme"):
        preferences.save(theme="blue")
    with pytest.raises(preferences.PreferenceError, match="Unknown model"):
        preferences.save(default_model="sd-v9")


def test_hand_edited_nonsense_reads_as_the_defaults(platform):
    platform.mkdir(parents=True)
    settings_path().write_text(json.dumps({"preview": "no", "theme": 3, "default_model": "x",
                                           "data_dir": "", "models_dir": 7}))
    assert preferences.preview_enabled() and preferences.theme() == "system"
    assert preferences.default_model() is None
    assert preferences.folder(preferences.DATA_DIR) is None
    assert preferences.folder(preferences.MODELS_DIR) is None


def test_the_default_model_preference_wins_when_its_files_are_there(platform):
    present = {"sd-v1.4", "sd-v2.1", "demo"}
    assert default_model_id(has_files=present.__contains__) == "sd-v1.4"
    preferences.save(default_model="sd-v2.1")
    assert default_model_id(has_files=present.__contains__) == "sd-v2.1"
    preferences.save(default_model="demo")
    assert default_model_id(has_files=present.__contains__) == "demo"
    # a preferred model whose weights are gone: the usual rule, not a model that cannot run
    preferences.save(default_model="sd-v2.1")
    assert default_model_id(has_files={"sd-v1.4", "demo"}.__contains__) == "sd-v1.4"
    assert default_model_id(has_files={"demo"}.__contains__) == "demo"


def test_main_moves_the_data_folder_before_anything_is_written(tmp_path):
    """The whole path, in a fresh process: the preference on disk, then main.py's folders."""
    xdg = tmp_path / "xdg"
    env = {k: v for k, v in os.environ.items()
           if k not in (locations.DATA_DIR_ENV, locations.MODELS_DIR_ENV)}
    env.update(XDG_DATA_HOME=str(xdg), PYTHONPATH=str(ROOT))
    home = xdg / locations.APP_NAME
    home.mkdir(parents=True)
    (home / "settings.json").write_text(json.dumps({"data_dir": str(tmp_path / "moved")}))
    code = ("import sys; sys.argv = ['main.py', 'info', '--json', '--no-device']\n"
            "import runpy; runpy.run_path('main.py', run_name='__main__')\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=CHILD_S)
    assert done.returncode == 0, done.stderr
    folders = json.loads(done.stdout)["folders"]
    assert folders["data"] == str(tmp_path / "moved")
    assert folders["history"] == str(tmp_path / "moved" / "history")
    assert folders["weights"][1] == str(tmp_path / "moved" / "models")
    assert folders["settings"] == str(home / "settings.json")
