"""Before Qt starts on Linux: the system libraries its X11 plugin needs, and the one
apt command that installs those missing.

Qt aborts the process when its platform plugin cannot load, and names the wrong
library (xcb-cursor0) whatever is missing; this asks the dynamic linker instead.
"""
from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Optional

# The X11 plugin and the Qt library it loads, relative to PySide6's folder.
PLUGIN_FILES = ("Qt/plugins/platforms/libqxcb.so", "Qt/lib/libQt6XcbQpa.so.6")
_NOT_FOUND = re.compile(r"^\s*(\S+\.so[.\d]*)\s+=>\s+not found", re.MULTILINE)


def uses_x11(environ: Optional[dict] = None) -> bool:
    """Whether Qt will try its X11 plugin: the platform is unset or xcb, outside Wayland."""
    env = os.environ if environ is None else environ
    platform = env.get("QT_QPA_PLATFORM", "")
    if platform:
        return platform.split(":")[0] == "xcb"
    return not (env.get("WAYLAND_DISPLAY") and env.get("XDG_SESSION_TYPE") == "wayland")


def not_found(ldd_output: str) -> list[str]:
    """The sonames ldd could not resolve, each once, in order."""
    return list(dict.fromkeys(_NOT_FOUND.findall(ldd_output)))


def debian_package(soname: str) -> str:
    """Debian names a library's package after its soname, in lower case: libxcb-icccm.so.4
    is libxcb-icccm4, and a name ending in a digit takes a hyphen (libxkbcommon-x11-0)."""
    name, _, version = soname.lower().partition(".so")
    version = version.lstrip(".").split(".")[0]
    if not version:
        return name
    return f"{name}-{version}" if name[-1].isdigit() else f"{name}{version}"


def missing_libraries() -> list[str]:
    """Sonames the X11 plugin needs and this system lacks; empty where it cannot tell."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return []
    base = Path(list(spec.submodule_search_locations)[0])
    files = [str(base / name) for name in PLUGIN_FILES if (base / name).is_file()]
    if not files:
        return []
    try:
        done = subprocess.run(["ldd", *files], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return []
    return not_found(done.stdout)


def advice(missing: list[str]) -> str:
    packages = " ".join(dict.fromkeys(debian_package(name) for name in missing))
    return ("SD Desk cannot open its window: Qt's X11 support needs system libraries this "
            f"machine lacks ({', '.join(missing)}).\n"
            f"On Debian or Ubuntu, install them with:\n    sudo apt install {packages}\n"
            "(The command line works without them: python main.py --help.)")


def check_before_qt() -> Optional[str]:
    """The message to show instead of starting Qt, or None when nothing is missing."""
    if not sys.platform.startswith("linux") or not uses_x11():
        return None
    missing = missing_libraries()
    return advice(missing) if missing else None
