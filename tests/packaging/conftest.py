"""Builds the frozen app once for every test in this folder.

The build (minutes, mostly PyInstaller's single-threaded module analysis) runs beside
other tests instead of after them: in one process it starts in the background as soon as
collection finds a test that needs it; under xdist these tests are the first group a worker
takes (tests/conftest.py), and the other worker goes on meanwhile.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator, Optional

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


class BackgroundBuild:
    """PyInstaller running in a process of its own, in a folder deleted afterwards."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="sd-desk-frozen-"))
        self.log_path = self.base / "build.log"
        self._log = open(self.log_path, "w")
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            packaging_build.command(self.base / "dist", self.base / "work"),
            cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT)

    def wait(self) -> float:
        """Seconds from start to finish; fails the test with PyInstaller's output if it failed."""
        code = self.process.wait()
        seconds = time.perf_counter() - self.started
        self._log.close()
        if code != 0:
            pytest.fail(f"PyInstaller build failed (exit {code}); its output:\n"
                        + self.log_path.read_text(errors="replace")[-6000:])
        return seconds

    def discard(self) -> None:
        if self.process.poll() is None:  # the session ended early: do not leave it running
            self.process.kill()
            self.process.wait()
        self._log.close()
        # 1.6 GB each: pytest's own temporary folders would keep the last three.
        shutil.rmtree(self.base, ignore_errors=True)


_build: Optional[BackgroundBuild] = None


@pytest.hookimpl(trylast=True)  # after -m and -k have deselected: only a build that is needed
def pytest_collection_modifyitems(config, items) -> None:
    global _build
    if hasattr(config, "workerinput"):
        return  # every worker collects every test: the one that runs them builds
    wanted = any("frozen_app" in getattr(item, "fixturenames", ()) for item in items)
    if wanted and _build is None and not os.environ.get(REUSE_ENV) \
            and importlib.util.find_spec("PyInstaller") is not None:
        _build = BackgroundBuild()


def pytest_sessionfinish(session, exitstatus) -> None:
    if _build is not None:
        _build.discard()


# The build's figures, for the summary of the first test that used the app.
_pending_figures: list[str] = []


@pytest.fixture(autouse=True)
def _build_figures(request, report_figure):
    yield
    while _pending_figures:
        report_figure(_pending_figures.pop(0))


@pytest.fixture(scope="session")
def frozen_app() -> Iterator[Path]:
    """The frozen executable, built once per session (in the background, from the start)."""
    pytest.importorskip("PyInstaller", reason="needs the test extra: pip install -e '.[test]'")
    reuse = os.environ.get(REUSE_ENV)
    if reuse:
        exe = packaging_build.executable(Path(reuse).resolve())
        assert exe.is_file(), f"{REUSE_ENV}={reuse} holds no built app ({exe})"
        yield exe
        return
    global _build
    if _build is None:
        _build = BackgroundBuild()
    seconds = _build.wait()
    dist = _build.base / "dist"
    size = packaging_build.disk_usage(dist / packaging_build.NAME)
    _pending_figures.append(f"frozen build (beside other tests): {seconds:.0f} s, "
                            f"{size / 2**20:.0f} MiB on disk")
    yield packaging_build.executable(dist)
