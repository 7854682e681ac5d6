"""A writer killed with SIGKILL in the middle of saving loses nothing it reported saved."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.history import HistoryStore
from engine.pngmeta import read_png_metadata

REPO = Path(__file__).resolve().parents[2]

# The child saves batches as fast as it can and prints each image id once add_result
# has committed it: the only promise a caller gets. It also announces each PNG write
# as it starts, so the kill can land inside the save, the moment that matters.
WRITER = r"""
import sys
import numpy as np
from engine.events import GeneratedImage, GenerationResult
from engine.history import HistoryStore
from engine.history import store as store_module
from engine.request import GenerationRequest

real_save_png = store_module.save_png

def announced_save_png(path, *args, **kwargs):
    print("saving", path.name, flush=True)
    return real_save_png(path, *args, **kwargs)

store_module.save_png = announced_save_png

# As slow as a real disk, so the kill usually lands between writing and renaming.
import os, time
real_fsync = os.fsync

def slow_fsync(fd):
    time.sleep(0.01)
    real_fsync(fd)

os.fsync = slow_fsync

store = HistoryStore(sys.argv[1], reconcile=False)
rng = np.random.default_rng(0)
for n in range(100000):
    request = GenerationRequest(prompt=f"image {n}, crash test", seed=n * 10, batch=3)
    images = [GeneratedImage(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8), s)
              for s in request.seeds()]
    for record in store.add_result(GenerationResult(request, images, "sd-v1.4", "CPU")):
        print("saved", record.id, record.seed, record.path.name, flush=True)
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
@pytest.mark.parametrize("kill_after", [4, 25])
def test_sigkill_mid_save_keeps_every_reported_image(tmp_path, kill_after):
    root = tmp_path / "hist"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    child = subprocess.Popen([sys.executable, "-c", WRITER, str(root)], cwd=REPO, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    reported = []
    deadline = time.monotonic() + 120
    try:
        while True:
            line = child.stdout.readline()
            assert line, f"writer stopped early: {child.stderr.read()}"
            kind, *fields = line.split()
            if kind == "saved":
                reported.append(fields)
            elif len(reported) >= kill_after:
                break  # a save has just begun: kill now
            assert time.monotonic() < deadline
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL

    with HistoryStore(root) as store:
        assert store.damaged_db is None
        # No row ever points at a file that was not in place, and no half file has a real name.
        assert store.last_report.marked_missing == 0 and store.last_report.skipped == []
        assert store._conn().execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        for image_id, seed, name in reported:
            record = store.get(int(image_id))
            assert record is not None, f"image {image_id} was reported saved but is not listed"
            assert record.path.name == name and record.seed == int(seed)
            meta = read_png_metadata(record.path, verify=True)  # every byte of it intact
            assert meta.seed == int(seed) and meta.request.prompt == record.prompt
        # Whatever the kill interrupted is either listed whole or was never renamed into place.
        on_disk = sorted(p.name for p in (root / "images").rglob("*.png") if not p.name.startswith("."))
        listed = sorted(r.path.name for r in store.page(0, 100000))
        assert on_disk == listed
        assert len(listed) >= len(reported)
