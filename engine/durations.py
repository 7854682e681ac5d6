"""How long something takes or has left, in words: the one formatter the CLI and the window share."""
from __future__ import annotations


def format_duration(seconds: float, compact: bool = False) -> str:
    """Whole seconds under a minute, minutes and seconds under an hour, then hours and minutes.

    `compact` ("1m15s") is for progress lines that must stay short; the default
    ("1 min 15 s") is for sentences a person reads.
    """
    seconds = max(0, int(round(seconds)))
    if compact:
        units = ("s", "m", "h")
        sep = ""
    else:
        units = (" s", " min", " h")
        sep = " "
    if seconds < 60:
        return f"{seconds}{units[0]}"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}{units[1]}{sep}{seconds:02d}{units[0]}"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}{units[2]}{sep}{minutes:02d}{units[1]}"
