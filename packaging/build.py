"""Builds the double-clickable app with PyInstaller, then proves it starts.

    .venv/bin/python packaging/build.py                 dist/sd-desk/ (+ self-test)
    .venv/bin/python packaging/build.py --no-self-test  just build
    .venv/bin/python packaging/build.py --dist DIR --work DIR
    .venv/bin/python packaging/build.py --backends torch   PyTorch only (default: all installed)

Prints the build time, the bundle's size on disk and, unless skipped, the frozen
app's `--self-test` result. Needs the `package` extra (`pip install -e ".[package]"`).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "packaging" / "sd-desk.spec"
NAME = "sd-desk"


def executable(dist: Path, name: str = NAME) -> Path:
    if sys.platform == "darwin":
        return dist / f"{name}.app" / "Contents" / "MacOS" / name
    return dist / name / (name + (".exe" if os.name == "nt" else ""))


def disk_usage(folder: Path) -> int:
    """Bytes the folder takes on disk (allocated blocks where the OS tells us, like du)."""
    total = 0
    seen: set[tuple[int, int]] = set()
    for path in folder.rglob("*"):
        try:
            st = path.lstat()
        except OSError:
            continue
        if (st.st_dev, st.st_ino) in seen or path.is_symlink():
            continue
        seen.add((st.st_dev, st.st_ino))
        blocks = getattr(st, "st_blocks", None)
        total += blocks * 512 if blocks is not None else st.st_size
    return total


def command(dist: Path, work: Path, name: str = NAME, clean: bool = False,
            backends: Optional[str] = None) -> list[str]:
    """The PyInstaller command line for the spec (run from the repository root)."""
    command = [sys.executable, "-m", "PyInstaller", str(SPEC), "--noconfirm",
               "--distpath", str(dist), "--workpath", str(work), "--log-level", "WARN"]
    if clean:
        command.append("--clean")
    command += ["--", "--name", name]
    if backends:
        command += ["--backends", backends]
    return command


def build(dist: Path, work: Path, name: str = NAME, clean: bool = False,
          log=None, backends: Optional[str] = None) -> float:
    """Runs PyInstaller on the spec; returns the seconds it took. Raises on failure."""
    started = time.perf_counter()
    subprocess.run(command(dist, work, name, clean, backends), cwd=ROOT, check=True,
                   stdout=log, stderr=log)
    return time.perf_counter() - started


def self_test_env(data_dir: Path) -> dict:
    # Offscreen: CI has no display. The data dir keeps the run away from the user's files.
    return dict(os.environ, QT_QPA_PLATFORM="offscreen", SD_DESK_DATA_DIR=str(data_dir))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="packaging/build.py", description=__doc__.split("\n")[0])
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="where the bundle goes")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "pyinstaller",
                        help="PyInstaller's work folder (kept: later builds reuse it)")
    parser.add_argument("--clean", action="store_true", help="empty PyInstaller's caches first")
    parser.add_argument("--no-self-test", action="store_true")
    parser.add_argument("--backends", default=None,
                        help='Keras backends to bundle, e.g. "torch" or "jax,tensorflow" '
                             "(default: every one installed here)")
    args = parser.parse_args(argv)

    print(f"building {args.dist / NAME} ...", flush=True)
    seconds = build(args.dist, args.work, clean=args.clean, backends=args.backends)
    exe = executable(args.dist)
    size = disk_usage(args.dist / NAME)
    print(f"built in {seconds:.0f} s: {exe}")
    print(f"bundle size on disk: {size / 2**20:.0f} MiB")
    if args.no_self_test:
        return 0
    with tempfile.TemporaryDirectory(prefix="sd-desk-frozen-") as data:
        started = time.perf_counter()
        result = subprocess.run([str(exe), "--self-test"], env=self_test_env(Path(data)))
        print(f"frozen --self-test exited {result.returncode} after "
              f"{time.perf_counter() - started:.0f} s")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
