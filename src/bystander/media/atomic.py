"""Write-then-rename, so a failure never leaves a half-written output.

A temporary file is named ``.<stem>.<pid>.<random>.part<suffix>`` beside its target. A run killed
outright (SIGKILL, a power cut) cannot remove it; the next run writing the same target removes the
parts whose process is gone, and only files it could have made: its own user's, named this way.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import secrets
import stat
from pathlib import Path
from typing import Iterator

from ..errors import BystanderError


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process now has that pid
        return True
    return True


def remove_stale_parts(path: Path) -> list[Path]:
    """Remove the parts left beside ``path`` by runs of this user that are no longer running."""
    pattern = re.compile(rf"\.{re.escape(path.stem)}\.(\d+)\.[^.]+\.part{re.escape(path.suffix)}")
    removed = []
    for part in path.parent.glob(f".{glob.escape(path.stem)}.*.part{glob.escape(path.suffix)}"):
        m = pattern.fullmatch(part.name)
        if not m or int(m.group(1)) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            st = part.lstat()
            if stat.S_ISREG(st.st_mode) and st.st_uid == os.getuid() and not _pid_alive(int(m.group(1))):
                part.unlink()
                removed.append(part)
    return removed


def _create_part(path: Path) -> Path:
    """A new, empty temporary file beside ``path``, with the mode any new file gets (the umask's)."""
    while True:
        part = path.parent / f".{path.stem}.{os.getpid()}.{secrets.token_hex(4)}.part{path.suffix}"
        try:
            os.close(os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return part
        except FileExistsError:
            continue
        except OSError as exc:
            raise BystanderError(f"{path}: cannot write here ({exc.strerror})") from exc


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Yields a temporary path beside ``path``; renamed onto it only if the block succeeds."""
    path = Path(path)
    parent = path.parent
    if not parent.is_dir():
        raise BystanderError(f"{path}: output folder {parent} does not exist")
    remove_stale_parts(path)
    tmp_path = _create_part(path)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise
