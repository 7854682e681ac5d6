"""Safe by default: HTTP Basic compared in constant time, and a cap on the request body
that holds however the body arrives (a Content-Length, or chunks)."""
from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Optional

LOOPBACK = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str

    @classmethod
    def parse(cls, text: str) -> "Credentials":
        """`USER:PASS`, as A1111's --api-auth (one pair); ValueError with a sentence if not."""
        user, colon, password = (text or "").partition(":")
        if not colon or not user or not password:
            raise ValueError("--api-auth takes USER:PASS, both non-empty, such as me:s3cret.")
        return cls(user, password)

    def accepts(self, user: str, password: str) -> bool:
        # Both compared, always, so the time taken says nothing about which one was wrong.
        ok_user = secrets.compare_digest(user.encode("utf-8"), self.user.encode("utf-8"))
        ok_password = secrets.compare_digest(password.encode("utf-8"), self.password.encode("utf-8"))
        return ok_user and ok_password


def is_loopback(host: str) -> bool:
    return host in LOOPBACK or host.startswith("127.")


class BodyLimit:
    """ASGI middleware: a body over `limit` bytes is refused with 413 and a JSON sentence,
    before the application parses any of it."""

    def __init__(self, app, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        try:
            if declared is not None and int(declared) > self.limit:
                return await self._refuse(send)
        except ValueError:
            pass
        # Read whole before the application sees any of it (FastAPI reads it whole too):
        # a chunked body that outgrows the limit is refused the same way.
        chunks, seen = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before sending it all
            chunks.append(message.get("body", b""))
            seen += len(chunks[-1])
            if seen > self.limit:
                return await self._refuse(send)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the disconnect, as ASGI does

        await self.app(scope, replay, send)

    async def _refuse(self, send) -> None:
        body = json.dumps({"detail": [{
            "loc": ["body"], "type": "too_large",
            "msg": f"The request body is over {self.limit // 2**20} MiB, the API's limit: send "
                   "smaller images."}]}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def auth_problem(credentials: Optional[Credentials], given) -> Optional[str]:
    """Why a request's Basic credentials (fastapi's HTTPBasicCredentials, or None) are not
    accepted; None when they are, or when the server asks for none."""
    if credentials is None:
        return None
    if given is None:
        return "This server needs a user name and password (HTTP Basic)."
    if not credentials.accepts(given.username, given.password):
        return "The user name or password is wrong."
    return None
