"""The PyInstaller bundle starts, makes an image and keeps its data outside itself.

One build (conftest.frozen_app) serves every test here. The self-test runs the real
window offscreen, the real worker and engine with the bundled demo model, and the
history store: it proves the frozen app's imports, resources and data folders work.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from tests.bounds import CHILD_S

# The first test also pays for the build (about 4 minutes on two busy cores).
pytestmark = [pytest.mark.packaging, pytest.mark.timeout(1200)]

RUN_TIMEOUT_S = 300


def app_env(tmp_path: Path, **extra: str) -> dict:
    env = dict(os.environ)
    env.update(QT_QPA_PLATFORM="offscreen",
               SD_DESK_DATA_DIR=str(tmp_path / "data"),
               SD_DESK_MODELS_DIR=str(tmp_path / "models"),
               KERAS_HOME=str(tmp_path / "keras"))
    env.pop("SD_DESK_HISTORY_DIR", None)
    env.update(extra)
    return env


def bundle_dir(exe: Path) -> Path:
    # dist/sd-desk/sd-desk, or dist/sd-desk.app/Contents/MacOS/sd-desk on macOS.
    return exe.parent.parent.parent if exe.parent.name == "MacOS" else exe.parent


def internal_dir(exe: Path) -> Path:
    """Where PyInstaller puts the libraries and data (sys._MEIPASS)."""
    if exe.parent.name == "MacOS":
        return exe.parent.parent / "Frameworks"
    return exe.parent / "_internal"


def bundled_modules(exe: Path) -> set[str]:
    """Module names in the bundle's compressed archive (PYZ), embedded in the executable."""
    from PyInstaller.archive.readers import CArchiveReader

    package = CArchiveReader(str(exe))
    pyz = next(name for name in package.toc if name.endswith(".pyz"))
    return set(package.open_embedded_archive(pyz).toc)


def snapshot(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns
            for p in folder.rglob("*") if p.is_file() and not p.is_symlink()}


def test_frozen_self_test_passes_and_writes_nothing_into_the_bundle(frozen_app, tmp_path):
    before = snapshot(bundle_dir(frozen_app))
    result = subprocess.run([str(frozen_app), "--self-test"], env=app_env(tmp_path),
                            capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"frozen --self-test exited {result.returncode}:\n{output[-6000:]}"
    assert "self-test: passed" in result.stdout, output[-6000:]
    # The demo model came from inside the bundle, not a download or a checkout.
    assert "model demo" in result.stdout, output[-6000:]
    after = snapshot(bundle_dir(frozen_app))
    changed = sorted(k for k in after if before.get(k) != after[k])
    assert not changed, f"the frozen app wrote into its own bundle: {changed[:20]}"


def test_without_stdout_and_stderr_the_output_goes_to_the_log(frozen_app, tmp_path):
    """What a windowed launch on Windows or from the macOS Finder looks like: descriptors
    1 and 2 closed, so Python starts with sys.stdout and sys.stderr set to None."""
    if os.name == "nt":
        pytest.skip("closing the standard descriptors this way needs POSIX")

    def close_std_streams() -> None:
        os.close(1)
        os.close(2)

    result = subprocess.run([str(frozen_app), "--self-test"], env=app_env(tmp_path),
                            stdin=subprocess.DEVNULL, preexec_fn=close_std_streams,
                            timeout=RUN_TIMEOUT_S)
    log = tmp_path / "data" / "logs" / "sd-desk.log"
    text = log.read_text(errors="replace") if log.is_file() else "(no log file)"
    assert result.returncode == 0, f"exited {result.returncode}; log:\n{text[-6000:]}"
    assert "--- SD Desk started" in text and "self-test: passed" in text, text[-6000:]


def test_bundle_carries_the_resources_and_leaves_out_what_the_app_does_not_use(frozen_app):
    internal = internal_dir(frozen_app)
    resources = internal / "resources"
    for name in ("style.qss", "icons/app.svg", "icons/sd-desk.png"):
        assert (resources / name).is_file(), f"missing from the bundle: resources/{name}"
    demo = resources / "demo"
    assert demo.is_dir() and any(demo.iterdir()), "the demo model's weights are not bundled"
    assert not (resources / "sd-desk.desktop").exists()
    # Read as files (engine/backends/kerascv_modules.py), not only imported from the archive.
    assert (internal / "keras_cv/src/models/stable_diffusion/constants.py").is_file()

    modules = bundled_modules(frozen_app)
    for name in ("keras_cv.src.models.stable_diffusion.diffusion_model",
                 "keras_cv.src.models.stable_diffusion.clip_tokenizer",
                 "engine.commands.generate", "engine.commands.models", "engine.commands.history",
                 "engine.commands.info", "engine.compute.selection",
                 "engine.backends.keras_sd", "engine.demo.backend", "gui.mainwindow"):
        assert name in modules, f"{name} is not in the bundle"
    for name in ("engine.demo.train", "pyarrow", "grpc", "pkg_resources", "pytest",
                 "PyInstaller", "keras_cv.src.tests"):
        assert name not in modules, f"{name} is bundled but the app never imports it"

    names = [str(p.relative_to(internal)).replace("\\", "/") for p in internal.rglob("*")]
    unwanted = [n for n in names
                if "QtWebEngine" in n or "QtQml" in n or "QtQuick" in n
                or n.endswith(".qm") or "/translations/" in n]
    assert not unwanted, f"bundled but unused: {unwanted[:20]}"


def test_time_to_visible_window(frozen_app, tmp_path, report_figure):
    """Launch to the first painted frame, timed by the same probe as the source app.
    Recorded for the README; the bound only catches a start that hangs."""
    from gui.probe import seconds_to_window

    env = app_env(tmp_path)
    seconds = seconds_to_window([str(frozen_app)], env, timeout_s=CHILD_S)
    report_figure(f"frozen app: window shown {seconds:.2f} s after launch "
                  f"(QT_QPA_PLATFORM={env['QT_QPA_PLATFORM']})")
