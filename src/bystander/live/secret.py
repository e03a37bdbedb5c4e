"""Stream keys never reach a log or an error message: anything printed goes through ``mask``."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit


def mask_url(url: str) -> str:
    """``rtmp://host/app/KEY`` → ``rtmp://host/app/****``; credentials and query strings hidden too."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "****"
    netloc = parts.netloc.rsplit("@", 1)[-1]
    path = parts.path
    segments = path.split("/")
    if len(segments) > 2 and segments[-1]:
        segments[-1] = "****"
    path = "/".join(segments)
    return urlunsplit((parts.scheme, netloc, path, "****" if parts.query else "", ""))


def mask(text: str, secrets) -> str:
    """``text`` with every secret (keys, full URLs) replaced by ****."""
    for s in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(s, "****")
    return re.sub(r"(rtmps?://[^\s'\"]+)", lambda m: mask_url(m.group(1)), text)
