"""One admin login, created on first run; bearer tokens for the API.

The password is kept only as a scrypt hash; tokens are random, held in memory (a restart
signs everyone out) and compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import time
from pathlib import Path

TOKEN_TTL = 12 * 3600


def _hash(password: str, salt: bytes) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)


class Auth:
    def __init__(self, path: Path):
        self.path = path
        self._tokens: dict[str, float] = {}

    @property
    def set_up(self) -> bool:
        return self.path.exists()

    def create_admin(self, username: str, password: str) -> None:
        salt = os.urandom(16)
        data = {"username": username, "salt": salt.hex(), "hash": _hash(password, salt).hex()}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)

    def login(self, username: str, password: str) -> str | None:
        if not self.set_up:
            return None
        data = json.loads(self.path.read_text())
        ok_user = hmac.compare_digest(username.encode(), data["username"].encode())
        ok_pass = hmac.compare_digest(_hash(password, bytes.fromhex(data["salt"])), bytes.fromhex(data["hash"]))
        return self.issue() if ok_user and ok_pass else None

    def issue(self) -> str:
        token = secrets.token_urlsafe(32)
        self._tokens[token] = time.time() + TOKEN_TTL
        return token

    def check(self, token: str | None) -> bool:
        if not token:
            return False
        for known, expires in list(self._tokens.items()):
            if expires < time.time():
                del self._tokens[known]
            elif hmac.compare_digest(known, token):
                return True
        return False
