"""Where bystander keeps its data: ``--home``, ``$BYSTANDER_HOME`` or the XDG data folder."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import BystanderError


@dataclass(frozen=True)
class Home:
    path: Path

    @classmethod
    def resolve(cls, explicit: str | None = None) -> "Home":
        """An explicit folder (flag or environment), else the XDG one; created when missing."""
        given = explicit or os.environ.get("BYSTANDER_HOME")
        if given:
            path = Path(given).expanduser()
        else:
            base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
            path = base / "bystander"
        if path.exists() and not path.is_dir():
            raise BystanderError(f"home folder {path}: not a folder")
        try:
            # Owner only: it holds face embeddings (and, for the web app, its secrets).
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise BystanderError(f"home folder {path}: cannot create it ({exc.strerror})") from exc
        return cls(path)

    @property
    def registry_path(self) -> Path:
        return self.path / "registry.sqlite3"
