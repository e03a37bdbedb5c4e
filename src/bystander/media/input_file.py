"""The checks every input file gets before a decoder sees it."""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError


def require_file(path: Path, kind: str) -> Path:
    """``path`` as a Path, if it names a non-empty file; ``kind`` ("image", "video") names what was expected."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not {'an' if kind[0] in 'aeiou' else 'a'} {kind}")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file")
    return path
