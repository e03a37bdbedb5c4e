"""Stream keys never reach a log or an error message: anything printed goes through ``mask``."""

from __future__ import annotations

import logging
import re
from typing import Callable, Iterable
from urllib.parse import urlsplit, urlunsplit


def mask_url(url: str) -> str:
    """``rtmp://host/app/KEY`` → ``rtmp://host/app/****``, whatever the key's shape.

    Only the host and the first path segment (the RTMP application) are kept, and that segment only
    when something follows it: ``rtmp://host/KEY``, ``rtmp://host/app/KEY/`` and keys that contain
    ``/`` are all hidden whole. Credentials and query strings are hidden too.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "****"
    netloc = parts.netloc.rsplit("@", 1)[-1]
    app, _, rest = parts.path.lstrip("/").partition("/")
    if rest:
        path = f"/{app}/****"
    elif app:
        path = "/****"
    else:
        path = ""
    return urlunsplit((parts.scheme, netloc, path, "****" if parts.query else "", ""))


def join_key(url: str, key: str) -> str:
    """The URL a stream key is published to: the key as given, after the URL's path."""
    return url.rstrip("/") + "/" + key if key else url


def mask(text: str, secrets) -> str:
    """``text`` with every secret (keys, full URLs) replaced by ****."""
    for s in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(s, "****")
    return re.sub(r"(rtmps?://[^\s'\"]+)", lambda m: mask_url(m.group(1)), text)


class MaskSecrets(logging.Filter):
    """On a log handler: every record masked with the secrets known now, and its traceback reduced
    to one line (a frame's locals and messages can hold a key)."""

    def __init__(self, secrets: Callable[[], Iterable[str]]):
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            text += f": {type(exc).__name__}: {exc}"
        record.msg, record.args, record.exc_info, record.exc_text = mask(text, self.secrets()), (), None, None
        return True
