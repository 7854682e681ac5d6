"""The one guarded way to read JSON the app keeps or is handed: a size limit, a depth limit
(Python's decoder recurses, so 3,000 `[` end in RecursionError), and the file named in
whatever goes wrong. State files that fail it are set aside and started anew, never fatal.
And the one way to write a state file: whole or not at all."""
from __future__ import annotations

import json
import logging
import os
import re
import time
import uuid
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MAX_STATE_BYTES = 16 * 1024 * 1024  # our largest state file (verified hashes) is kilobytes
MAX_DEPTH = 32  # ours nest three or four deep


class JsonProblem(ValueError):
    """Why a JSON text or file cannot be read, in one line that names the file if there is one."""


def depth_ok(raw: str, limit: int = MAX_DEPTH) -> bool:
    """Whether brackets nest at most `limit` deep, in one pass (strings are skipped)."""
    depth, in_string, escaped = 0, False, False
    for match in _SIGNIFICANT.finditer(raw):
        char = match.group()
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return False
        elif char in "]}":
            depth -= 1
    return True


# One character per match: the escape is tracked above, so `\"` costs two matches, never a rescan.
_SIGNIFICANT = re.compile(r'[\[\]{}"\\]|(?<=\\).', re.DOTALL)


def loads(raw: str, limit: int = MAX_DEPTH) -> Any:
    """json.loads that raises JsonProblem (a ValueError) for deep nesting instead of recursing."""
    if not depth_ok(raw, limit):
        raise JsonProblem(f"it nests more than {limit} levels deep")
    try:
        return json.loads(raw)
    except RecursionError:  # the depth check counts brackets; this is the belt to its braces
        raise JsonProblem(f"it nests more than {limit} levels deep") from None
    except ValueError as error:
        raise JsonProblem(f"it is not valid JSON ({error})") from None


def read(path: Path, max_bytes: int = MAX_STATE_BYTES, limit: int = MAX_DEPTH) -> Any:
    """The file's JSON. FileNotFoundError passes through (absent is not damaged); anything
    else, unreadable, too large, too deep or not JSON, is a JsonProblem naming the file."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise JsonProblem(f"{path} is {size:,} bytes, more than the {max_bytes:,} allowed")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError) as error:
        raise JsonProblem(f"{path} cannot be read ({getattr(error, 'strerror', None) or error})") from None
    try:
        return loads(text, limit)
    except JsonProblem as problem:
        raise JsonProblem(f"{path}: {problem}") from None


def read_state(path: Path, default: Any, max_bytes: int = MAX_STATE_BYTES) -> Any:
    """A state file of ours: its JSON, or `default` when it is absent; a damaged one is
    logged and moved aside (`<name>.damaged-<time>`) so the app starts it anew."""
    try:
        return read(path, max_bytes)
    except FileNotFoundError:
        return default
    except JsonProblem as problem:
        aside = Path(path).with_name(f"{Path(path).name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        try:
            os.replace(path, aside)
            log.warning("%s; set aside as %s", problem, aside.name)
        except OSError as error:
            log.warning("%s; could not set it aside (%s)", problem, error)
        return default


def write(path: Path, data: Any) -> None:
    """`data` as indented JSON, atomically: a reader (or a crash) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
