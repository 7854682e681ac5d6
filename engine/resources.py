"""Where the app's bundled files (demo weights, icons, stylesheet) live: the source
checkout's resources/, or the same folder inside a PyInstaller bundle."""
from __future__ import annotations

import sys
from pathlib import Path


def resources_dir() -> Path:
    # A frozen app unpacks its data next to the executable's modules, under _MEIPASS.
    bundle = getattr(sys, "_MEIPASS", None)
    if getattr(sys, "frozen", False) and bundle:
        return Path(bundle) / "resources"
    return Path(__file__).resolve().parents[1] / "resources"


def demo_dir() -> Path:
    return resources_dir() / "demo"
