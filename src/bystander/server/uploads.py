"""Uploads: streamed to disk under a size limit, names made safe, malformed bodies refused.

A file the user sent keeps its name for the gallery and the download, so the name is cleaned
once here: no path, no control characters, no quotes (it ends up in a header).
"""

from __future__ import annotations

import contextlib
import re
import unicodedata
from pathlib import Path
from typing import AsyncIterator, Iterator
from urllib.parse import quote

from aiohttp import BodyPartReader, web

from .errors import error

MAX_NAME = 200
TEXT_FIELD_LIMIT = 4096
_UNSAFE = re.compile(r'[\x00-\x1f\x7f"\\/]')


def clean_name(name: str | None, fallback: str) -> str:
    """The base name of ``name`` as a user would read it; ``fallback`` when nothing is left."""
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE.sub("_", name.encode("utf-8", "replace").decode("utf-8"))
    name = "".join(c for c in name if unicodedata.category(c) not in ("Cs", "Cf", "Zl", "Zp")).strip(" .")
    return name[:MAX_NAME] or fallback


def content_disposition(kind: str, filename: str) -> str:
    """RFC 6266: an ASCII ``filename`` any client reads, and the real one as ``filename*``."""
    ascii_name = clean_name(filename, "file").encode("ascii", "replace").decode("ascii").replace("?", "_")
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(clean_name(filename, 'file'), safe='')}"


async def parts(request: web.Request) -> AsyncIterator[BodyPartReader]:
    """The fields of a multipart/form-data body (read them inside ``malformed_multipart``)."""
    if not request.content_type.startswith("multipart/"):
        raise error(400, "expected a multipart/form-data body")
    reader = await request.multipart()
    while (field := await reader.next()) is not None:
        if not isinstance(field, BodyPartReader):
            raise error(400, "malformed multipart body: nested multipart is not accepted")
        yield field


@contextlib.contextmanager
def malformed_multipart() -> Iterator[None]:
    """aiohttp's multipart parser fails with ValueError or AssertionError (a wrong boundary, a bad
    part header): that is the client's body, a 400 naming the problem."""
    try:
        yield
    except (ValueError, AssertionError, LookupError) as exc:
        raise error(400, f"malformed multipart body: {str(exc) or type(exc).__name__}") from None


async def text_field(field: BodyPartReader, what: str) -> str:
    """A short text field, read no further than it may be long."""
    data = b""
    while chunk := await field.read_chunk(TEXT_FIELD_LIMIT):
        data += chunk
        if len(data) > TEXT_FIELD_LIMIT:
            raise error(413, f"{what}: longer than {TEXT_FIELD_LIMIT} bytes")
    try:
        return data.decode(field.get_charset("utf-8"))
    except (UnicodeDecodeError, LookupError):
        raise error(400, f"{what}: not valid UTF-8 text") from None


async def save(field: BodyPartReader, dest: Path, limit: int, name: str) -> Path:
    """Stream ``field`` to ``dest``; more than ``limit`` bytes is refused and nothing is kept."""
    size = 0
    try:
        with open(dest, "wb") as out:
            while chunk := await field.read_chunk(1 << 20):
                size += len(chunk)
                if size > limit:
                    raise error(413, f"{name}: larger than the {limit // (1024 * 1024)} MB limit")
                out.write(chunk)
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    return dest
