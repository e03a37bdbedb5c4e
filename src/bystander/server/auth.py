"""One admin login, created on first run with the code ``serve`` prints; server-side sessions.

The password is kept only as a scrypt hash. Sessions are random tokens held in memory (a restart
signs everyone out), compared in constant time, ended by sign-out and by their time limit.
Hashing is slow on purpose: callers run ``verify`` and ``create_admin`` off the event loop.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import time
from pathlib import Path

SESSION_TTL = 12 * 3600


def _hash(password: str, salt: bytes) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)


class AlreadySetUp(Exception):
    """An admin login exists already: setup happens once."""


class Auth:
    def __init__(self, path: Path, session_ttl: float = SESSION_TTL):
        self.path = path
        self.session_ttl = session_ttl
        self._sessions: dict[str, float] = {}
        # Printed on the console at start: only whoever can read it may create the admin login.
        self.setup_code: str | None = None if self.set_up else secrets.token_urlsafe(9)

    @property
    def set_up(self) -> bool:
        return self.path.exists()

    def setup_code_ok(self, code: str) -> bool:
        return self.setup_code is not None and hmac.compare_digest(code.encode(), self.setup_code.encode())

    def create_admin(self, username: str, password: str) -> None:
        """Write the login unless one exists: the check and the write are one step (a hard link
        fails if the name is taken), so of two concurrent setups exactly one wins."""
        salt = os.urandom(16)
        data = {"username": username, "salt": salt.hex(), "hash": _hash(password, salt).hex()}
        tmp = self.path.with_name(f".{self.path.name}.{secrets.token_hex(6)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(data, f)
            os.link(tmp, self.path)
        except FileExistsError:
            raise AlreadySetUp from None
        finally:
            tmp.unlink(missing_ok=True)
        self.setup_code = None

    def verify(self, username: str, password: str) -> bool:
        if not self.set_up:
            return False
        data = json.loads(self.path.read_text())
        ok_user = hmac.compare_digest(username.encode(), data["username"].encode())
        ok_pass = hmac.compare_digest(_hash(password, bytes.fromhex(data["salt"])), bytes.fromhex(data["hash"]))
        return ok_user and ok_pass

    def issue(self) -> str:
        token = secrets.token_urlsafe(32)
        self._sessions[token] = time.time() + self.session_ttl
        return token

    def check(self, token: str | None) -> bool:
        if not token or not token.isascii():
            return False
        now, found = time.time(), False
        for known, expires in list(self._sessions.items()):
            if expires < now:
                del self._sessions[known]
            elif hmac.compare_digest(known.encode(), token.encode()):
                found = True
        return found

    def revoke(self, token: str | None) -> None:
        if self.check(token):
            del self._sessions[token]
