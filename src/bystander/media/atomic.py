"""Write-then-rename, so a failure never leaves a half-written output."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from ..errors import BystanderError


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Yields a temporary path beside ``path``; renamed onto it only if the block succeeds."""
    path = Path(path)
    parent = path.parent
    if not parent.is_dir():
        raise BystanderError(f"{path}: output folder {parent} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".part{path.suffix}", dir=parent)
    except OSError as exc:
        raise BystanderError(f"{path}: cannot write here ({exc.strerror})") from exc
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise
