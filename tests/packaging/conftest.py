"""Builds the frozen app once for every test in this folder."""
from __future__ import annotations

import importlib.util
import os
import shutil
import time
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load_build_script():
    # packaging/ is not a package (it would shadow PyPI's `packaging`), so load the
    # script by path, under a name nothing else uses.
    spec = importlib.util.spec_from_file_location("sd_desk_packaging_build",
                                                  ROOT / "packaging" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


packaging_build = _load_build_script()

# Reuse a bundle already built from this checkout, e.g. `SD_DESK_FROZEN_DIST=dist`
# after `packaging/build.py`, to iterate on these tests without rebuilding.
REUSE_ENV = "SD_DESK_FROZEN_DIST"


def pytest_configure(config) -> None:
    config.addinivalue_line(
        "markers", "packaging: builds the PyInstaller bundle and runs it (minutes); "
                   "deselect with -m 'not packaging'")


@pytest.fixture(scope="session")
def frozen_app(tmp_path_factory, pytestconfig) -> Iterator[Path]:
    """The frozen executable, built once per session and deleted afterwards."""
    pytest.importorskip("PyInstaller", reason="needs the test extra: pip install -e '.[test]'")
    reuse = os.environ.get(REUSE_ENV)
    if reuse:
        exe = packaging_build.executable(Path(reuse).resolve())
        assert exe.is_file(), f"{REUSE_ENV}={reuse} holds no built app ({exe})"
        yield exe
        return
    base = tmp_path_factory.mktemp("frozen")
    try:
        yield _build(base, pytestconfig)
    finally:
        # pytest keeps the last three sessions' temporary folders: 1.6 GB each, here.
        shutil.rmtree(base / "dist", ignore_errors=True)
        shutil.rmtree(base / "work", ignore_errors=True)


@pytest.fixture
def report_line(pytestconfig):
    """report() for a test: report_line("...")."""
    return lambda text: report(pytestconfig, text)


def report(config, text: str) -> None:
    """A line in the test log even with output captured: CI's record of the figures."""
    terminal = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if terminal is None:
        return
    if capture is None:
        terminal.write_line(text)
        return
    with capture.global_and_fixture_disabled():
        terminal.write_line(text)


def _build(base: Path, config) -> Path:
    log_path = base / "build.log"
    with open(log_path, "w") as log:
        try:
            seconds = packaging_build.build(base / "dist", base / "work", log=log)
        except Exception as exc:
            pytest.fail(f"PyInstaller build failed ({exc}); its output:\n"
                        + log_path.read_text(errors="replace")[-6000:])
    exe = packaging_build.executable(base / "dist")
    size = packaging_build.disk_usage(base / "dist" / packaging_build.NAME)
    report(config, f"\nfrozen build: {seconds:.0f} s, {size / 2**20:.0f} MiB on disk")
    (base / "figures.txt").write_text(f"build_s={seconds:.1f}\nsize_bytes={size}\n"
                                      f"at={time.strftime('%Y-%m-%d %H:%M:%S')}\n")
    return exe
