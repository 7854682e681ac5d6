"""A bound of its own on fixture setup, apart from the per-test timeout.

pytest-timeout's per-test limit (pyproject.toml) covers the test function only
(`timeout_func_only`): a session fixture that builds Stable Diffusion or freezes the app
takes minutes on an idle machine and many more on a busy one, and the first test to need it
must not fail for the machine's load. A fixture that truly hangs is still ended: past
FIXTURE_SETUP_S the process's stacks are written out and it exits, as pytest-timeout's own
thread method ends a hung test."""
import faulthandler
import os
import sys
import threading

import pytest

# Ample against any load: the slowest setup (the frozen app's build, waited for) takes about
# ten minutes on an idle two-core machine. SD_DESK_FIXTURE_TIMEOUT_S changes it; 0 turns it off.
FIXTURE_SETUP_S = 3600
_depth = 0  # a fixture set up inside another's setup shares the outer one's bound


def setup_bound_s() -> float:
    return float(os.environ.get("SD_DESK_FIXTURE_TIMEOUT_S", FIXTURE_SETUP_S))


def _give_up(config, name: str, bound: float) -> None:
    capture = config.pluginmanager.getplugin("capturemanager")
    if capture is not None:  # else the words go to the capture's file, lost on exit
        capture.suspend_global_capture(in_=True)
    stream = sys.stderr
    stream.write(f"\nSetting up the fixture {name!r} took more than {bound:g} s "
                 f"(SD_DESK_FIXTURE_TIMEOUT_S): ending the test process.\n")
    stream.flush()
    faulthandler.dump_traceback(stream, all_threads=True)
    os._exit(1)


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef, request):
    global _depth
    bound = setup_bound_s()
    timer = None
    if _depth == 0 and bound > 0:
        timer = threading.Timer(bound, _give_up, (request.config, fixturedef.argname, bound))
        timer.daemon = True
        timer.start()
    _depth += 1
    try:
        return (yield)
    finally:
        _depth -= 1
        if timer is not None:
            timer.cancel()
