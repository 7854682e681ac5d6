"""Preferences > API: whether the window serves the API, and how; kept under one key of
the app's settings file (engine/settings_file.py). The same checks as `serve`'s flags."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Optional

from engine.api.security import Credentials
from engine.api.server import listen_problem

KEY = "api"


@dataclass(frozen=True)
class ApiPreference:
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 7860
    auth: str = ""  # USER:PASS, or "" for none
    cors_origins: tuple[str, ...] = field(default_factory=tuple)
    listen_anywhere: bool = False

    def problem(self) -> Optional[str]:
        """Why this cannot be served, as a sentence; None when it can."""
        if not self.host.strip():
            return "Give an address to listen on, such as 127.0.0.1."
        if not isinstance(self.port, int) or not 0 < self.port < 65536:
            return f"Port {self.port!r} is not a port: use 1 to 65535."
        if self.auth:
            try:
                Credentials.parse(self.auth)
            except ValueError:
                return "The API password is USER:PASS, both non-empty, such as me:s3cret."
        return listen_problem(self.host.strip(), bool(self.auth), self.listen_anywhere,
                              "Set a password (USER:PASS), or allow another address without "
                              "one if this network is yours alone.")

    def credentials(self) -> Optional[Credentials]:
        return Credentials.parse(self.auth) if self.auth else None


def read() -> ApiPreference:
    from engine.settings_file import read_settings
    saved = read_settings().get(KEY)
    if not isinstance(saved, dict):
        return ApiPreference()
    try:
        origins = saved.get("cors_origins") or ()
        return ApiPreference(enabled=saved.get("enabled") is True,
                             host=str(saved.get("host") or "127.0.0.1"),
                             port=int(saved.get("port") or 7860), auth=str(saved.get("auth") or ""),
                             cors_origins=tuple(str(o) for o in origins if isinstance(o, str)),
                             listen_anywhere=saved.get("listen_anywhere") is True)
    except (TypeError, ValueError):  # edited by hand into something else: the defaults
        return ApiPreference()


def save(preference: ApiPreference) -> None:
    """Raises ValueError with the sentence `problem` gives, having written nothing."""
    problem = preference.problem() if preference.enabled else None
    if problem:
        raise ValueError(problem)
    from engine.settings_file import update_settings
    values = asdict(preference)
    values["cors_origins"] = list(preference.cors_origins)
    update_settings(**{KEY: values})
