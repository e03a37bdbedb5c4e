"""Registered people and their face embeddings, in SQLite.

Only embeddings are stored, never photos: a 128-float vector per shot and the
shot's file name so the user can tell which photo it came from.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from ..engine.match import Gallery
from ..engine.recognise import EMBEDDING_DIM
from ..errors import BystanderError
from .enrol import check_shots

SCHEMA = """
CREATE TABLE IF NOT EXISTS people (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS embeddings (
    id INTEGER PRIMARY KEY,
    person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    model TEXT NOT NULL,
    vector BLOB NOT NULL,
    source TEXT,
    created REAL NOT NULL
);
"""

MODEL = "sface-2021dec"
MAX_NAME = 64
VECTOR_BYTES = EMBEDDING_DIM * 4  # float32
COLUMNS = {
    "people": {"id", "name", "created"},
    "embeddings": {"id", "person_id", "model", "vector", "source", "created"},
}


@dataclass(frozen=True)
class Person:
    name: str
    shots: int
    created: float

    def as_dict(self) -> dict:
        return {"name": self.name, "shots": self.shots,
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.created))}


def check_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise BystanderError("a person's name cannot be empty")
    if len(name) > MAX_NAME:
        raise BystanderError(f"name too long ({len(name)} characters, at most {MAX_NAME})")
    if any(ord(c) < 32 for c in name):
        raise BystanderError("a person's name cannot contain control characters")
    return name


class Registry:
    """Use as a context manager: ``with Registry(path) as reg: ...``.

    Every SQLite failure (a read-only or corrupt file, a foreign schema) becomes one clear error, and
    a file that is not an empty or bystander registry is never written to.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        try:
            # A new registry is owner-only, its journal too (SQLite gives it the file's mode); an
            # existing one keeps the mode it has (a read-only one stays read-only).
            with contextlib.suppress(FileExistsError):
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except OSError as exc:
            raise BystanderError(f"registry {self.path}: cannot create it ({exc.strerror})") from exc
        try:
            self._db = sqlite3.connect(self.path)
        except sqlite3.Error as exc:
            raise BystanderError(f"registry {self.path}: cannot open it ({exc})") from exc
        try:
            with self._errors("open"):
                self._db.execute("PRAGMA foreign_keys = ON")
                self._check_schema()
        except BystanderError:
            self._db.close()
            raise

    def _check_schema(self) -> None:
        tables = {name: {col for (_, col, *_) in self._db.execute(f"PRAGMA table_info({name!r})")}
                  for (name,) in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables:
            self._db.executescript(SCHEMA)
            return
        for name, columns in COLUMNS.items():
            if not columns <= tables.get(name, set()):
                raise BystanderError(f"registry {self.path}: not a bystander registry (its table '{name}' "
                                     "is missing or has other columns); it was left as it is")

    @contextlib.contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise BystanderError(f"registry {self.path}: cannot {doing} it ({exc})") from None

    def __enter__(self) -> "Registry":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def add(self, name: str, vectors: np.ndarray, sources: list[str]) -> Person:
        """Add shots to ``name`` (created if new), all or nothing; refused if they would register a
        face as someone it is not (``enrol.check_shots``)."""
        name = check_name(name)
        vectors = np.atleast_2d(np.asarray(vectors, np.float32))
        check_shots(self.gallery(), name, vectors, sources)
        now = time.time()
        with self._errors("write to"), self._db:
            self._db.execute("INSERT OR IGNORE INTO people (name, created) VALUES (?, ?)", (name, now))
            (pid,) = self._db.execute("SELECT id FROM people WHERE name = ?", (name,)).fetchone()
            self._db.executemany(
                "INSERT INTO embeddings (person_id, model, vector, source, created) VALUES (?, ?, ?, ?, ?)",
                [(pid, MODEL, v.tobytes(), s, now) for v, s in zip(vectors, sources)],
            )
        return self.person(name)

    def remove(self, name: str) -> bool:
        with self._errors("write to"), self._db:
            cur = self._db.execute("DELETE FROM people WHERE name = ?", (name.strip(),))
        return cur.rowcount > 0

    def person(self, name: str) -> Person | None:
        with self._errors("read"):
            row = self._db.execute(
                "SELECT p.name, COUNT(e.id), p.created FROM people p LEFT JOIN embeddings e ON e.person_id = p.id "
                "WHERE p.name = ? GROUP BY p.id", (name,)).fetchone()
        return Person(*row) if row else None

    def people(self) -> list[Person]:
        with self._errors("read"):
            rows = self._db.execute(
                "SELECT p.name, COUNT(e.id), p.created FROM people p LEFT JOIN embeddings e ON e.person_id = p.id "
                "GROUP BY p.id ORDER BY p.name").fetchall()
        return [Person(*r) for r in rows]

    def gallery(self) -> Gallery:
        people: dict[str, list[np.ndarray]] = {}
        with self._errors("read"):
            rows = self._db.execute(
                "SELECT p.name, e.vector FROM embeddings e JOIN people p ON p.id = e.person_id WHERE e.model = ?",
                (MODEL,)).fetchall()
        for name, blob in rows:
            if not isinstance(blob, bytes) or len(blob) != VECTOR_BYTES:
                found = f"{len(blob)} bytes" if isinstance(blob, bytes) else f"a {type(blob).__name__}"
                raise BystanderError(f"registry {self.path}: an embedding of '{name}' is damaged ({found}, "
                                     f"expected {VECTOR_BYTES} bytes); remove them and register them again")
            people.setdefault(name, []).append(np.frombuffer(blob, np.float32))
        return Gallery.from_people({k: np.stack(v) for k, v in people.items()})
