"""Before Qt starts: the X11 plugin's missing system libraries, named with the apt
command that installs them, instead of Qt's abort naming the wrong library."""
import ctypes.util
import sys

import pytest

from gui import app, linux_libraries

LDD = """/x/libqxcb.so:
\tlinux-vdso.so.1 (0x00007ffd)
\tlibQt6XcbQpa.so.6 => /x/libQt6XcbQpa.so.6 (0x00007f01)
\tlibxcb-icccm.so.4 => not found
\tlibxkbcommon-x11.so.0 => not found
/x/libQt6XcbQpa.so.6:
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibGL.so.1 => not found
"""


def test_ldd_output_gives_each_missing_library_once():
    assert linux_libraries.not_found(LDD) == [
        "libxcb-icccm.so.4", "libxkbcommon-x11.so.0", "libxcb-keysyms.so.1", "libGL.so.1"]


def test_the_advice_is_one_apt_command_with_debian_package_names():
    text = linux_libraries.advice(linux_libraries.not_found(LDD))
    assert "sudo apt install libxcb-icccm4 libxkbcommon-x11-0 libxcb-keysyms1 libgl1\n" in text
    assert "xcb-cursor" not in text


@pytest.mark.parametrize("environ, x11", [
    ({}, True),
    ({"QT_QPA_PLATFORM": "offscreen"}, False),
    ({"QT_QPA_PLATFORM": "xcb"}, True),
    ({"QT_QPA_PLATFORM": "xcb:foo=1"}, True),
    ({"WAYLAND_DISPLAY": "wayland-0", "XDG_SESSION_TYPE": "wayland"}, False),
    ({"WAYLAND_DISPLAY": "wayland-0", "XDG_SESSION_TYPE": "x11"}, True),
])
def test_only_the_x11_plugin_is_checked(environ, x11):
    assert linux_libraries.uses_x11(environ) is x11


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")
def test_what_the_real_check_reports_missing_the_linker_cannot_find():
    for soname in linux_libraries.missing_libraries():
        name = soname.split(".so")[0].removeprefix("lib")
        assert ctypes.util.find_library(name) is None, soname


def test_the_app_says_what_is_missing_instead_of_starting_qt(monkeypatch, capsys):
    monkeypatch.setattr(linux_libraries.sys, "platform", "linux")
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    monkeypatch.setattr(linux_libraries, "missing_libraries", lambda: ["libxcb-keysyms.so.1"])
    monkeypatch.setattr(app, "make_application", lambda argv=None: pytest.fail("Qt started"))
    assert app.run_app([]) == 1
    assert "sudo apt install libxcb-keysyms1" in capsys.readouterr().err
