"""Settings every test shares: no display, no network, no real user folders."""
import json
import os
import tempfile

import pytest

# Fixture setup is bounded apart from the test's own timeout (see the module).
from tests.fixture_bound import pytest_fixture_setup  # noqa: F401  (a hook: pytest finds it here)

# Set before anything imports Qt, Keras or TensorFlow.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
_SANDBOX = tempfile.mkdtemp(prefix="sd-desk-tests-")
# Tests must never read or write a real Keras cache or the user's data folder.
os.environ["KERAS_HOME"] = os.path.join(_SANDBOX, "keras")
os.environ["SD_DESK_MODELS_DIR"] = os.path.join(_SANDBOX, "models")
os.environ["SD_DESK_DATA_DIR"] = os.path.join(_SANDBOX, "data")

# What makes a test slow is what it needs: these build Stable Diffusion, start Ray,
# or freeze the app. `pytest -m "not slow"` skips them while iterating.
SLOW_FIXTURES = {"sd_weights", "sd_engine", "local_ray", "frozen_app", "checkpoint_files"}

# Under xdist each worker builds its own session fixtures, so every test that needs one of
# these goes to the same worker (one group each); any other test goes with its file (so a
# module fixture is built once). The groups start first, the longest first: the frozen
# app's build (minutes, one core, waited for), then the checkpoints and SD's own weights.
HEAVY_GROUPS = (("frozen-app", {"frozen_app"}),
                ("checkpoints", {"checkpoint_files"}),
                ("stable-diffusion", {"sd_weights", "sd_engine"}))
# Each worker may hold a Stable Diffusion (about 6 GB) beside a CLI run building another.
GIB_PER_WORKER = 10
# Where the workers write each test's group for the controller's scheduler: only the
# workers collect, and only they see a test's fixtures.
GROUPS_ENV = "SD_DESK_TEST_GROUPS"


def pytest_configure(config) -> None:
    config.addinivalue_line(
        "markers", "slow: builds Stable Diffusion, starts Ray or freezes the app (minutes); "
                   "skip with -m 'not slow'")
    if not hasattr(config, "workerinput") and getattr(config.option, "numprocesses", None):
        # The controller, before it starts the workers (they inherit the variable).
        os.environ[GROUPS_ENV] = os.path.join(_SANDBOX, "test-groups.json")


@pytest.hookimpl(optionalhook=True)  # a hook of xdist's: known only where it is installed
def pytest_xdist_auto_num_workers(config) -> int:
    """`-n auto`: a worker per core, as far as memory allows (2 on a 2-core, 24 GiB machine)."""
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # Windows: no sysconf
        memory = 16 * 2**30
    return max(1, min(os.cpu_count() or 1, int(memory // (GIB_PER_WORKER * 2**30))))


def group_of(item) -> str:
    fixtures = set(getattr(item, "fixturenames", ()))
    for name, needs in HEAVY_GROUPS:
        if needs & fixtures:
            return name
    return item.nodeid.split("::")[0]


def pytest_collection_modifyitems(config, items) -> None:
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
    if not hasattr(config, "workerinput"):
        return  # one process: the natural order (the frozen build runs in the background)
    # Longest first, so that neither worker is left with a long file at the end: the heavy
    # groups, then the files holding a slow test, then the rest (stable: files keep order).
    rank = {name: index for index, (name, _) in enumerate(HEAVY_GROUPS)}
    slow_files = {item.nodeid.split("::")[0] for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: rank.get(group_of(item), len(rank) + (group_of(item) not in slow_files)))
    groups = {item.nodeid: group_of(item) for item in items}
    # Every worker writes the same table; each writes a file of its own, then renames it.
    partial = f"{os.environ[GROUPS_ENV]}.{os.getpid()}"
    with open(partial, "w", encoding="utf-8") as handle:
        json.dump(groups, handle)
    os.replace(partial, os.environ[GROUPS_ENV])


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """--dist loadgroup, our way: xdist's own marks a test's group on `item._nodeid`, which
    pytest 9.2 no longer reads, so its groups are silently ignored. This one takes them
    from the workers' table, in collection order (--no-loadscope-reorder)."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        _groups: dict[str, str] = {}

        def _split_scope(self, nodeid: str) -> str:
            if not self._groups:
                with open(os.environ[GROUPS_ENV], encoding="utf-8") as handle:
                    self._groups.update(json.load(handle))
            return self._groups.get(nodeid, nodeid.split("::")[0])

    return GroupScheduling(config, log)


@pytest.fixture
def report_figure(request):
    """report_figure("...") puts a measured figure in the run's summary (CI's record of it),
    from a worker as from a single process."""
    return lambda text: request.node.user_properties.append(("figure", text))


_FIGURES: list[str] = []


def pytest_runtest_logreport(report) -> None:
    if report.when == "teardown":
        _FIGURES.extend(text for key, text in report.user_properties if key == "figure")


def pytest_terminal_summary(terminalreporter) -> None:
    if _FIGURES:
        terminalreporter.section("measured figures")
        for text in _FIGURES:
            terminalreporter.write_line(text.strip())


@pytest.fixture
def library(tmp_path, monkeypatch):
    """A private checkpoint library (models folder and settings under tmp_path), the one
    the registry's lookups use for the test."""
    from engine.models import library as library_module
    lib = library_module.Library(tmp_path / "models")
    monkeypatch.setattr(library_module, "_LIBRARY", lib)
    monkeypatch.setenv("SD_DESK_DATA_DIR", str(tmp_path / "data"))  # its settings.json
    return lib
