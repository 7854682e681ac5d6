"""The window's own settings live in the data folder, so SD_DESK_DATA_DIR moves them."""
from pathlib import Path

from gui import app


def test_the_window_settings_file_is_in_the_data_folder(monkeypatch, tmp_path, qapp):
    monkeypatch.setenv("SD_DESK_DATA_DIR", str(tmp_path / "portable"))
    settings = app.window_settings()
    settings.setValue("probe", 1)
    settings.sync()
    assert Path(settings.fileName()) == tmp_path / "portable" / app.WINDOW_SETTINGS
    assert (tmp_path / "portable" / app.WINDOW_SETTINGS).is_file()
