import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_history_search_works_after_the_engine_loaded_tensorflow(tmp_path):
    """TensorFlow carries its own SQLite without FTS5; if it loads first, Python's
    sqlite3 binds to that copy and the history cannot open its search index."""
    script = (
        "import engine.pipeline\n"
        "from engine.history import HistoryStore\n"
        f"print(HistoryStore({str(tmp_path)!r}).count())\n"
    )
    completed = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                               text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.strip() == "0"
