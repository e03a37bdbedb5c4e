"""Results the user asked to keep: redacted photos and videos, never the originals."""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class Item:
    id: str
    kind: str  # "photo" or "video"
    name: str  # the uploaded file's name, for the user
    file: str  # file name inside the gallery folder
    created: float
    faces_redacted: int = 0  # face-frames, for the API's older readers
    kept: list[str] | None = None  # registered people left visible
    duration: float | None = None  # seconds, videos only
    others_blurred: int | None = None  # other people blurred (a video counts each person once)
    privacy: dict | None = None  # a video's privacy report (seconds each person was kept, whole frames)

    def as_dict(self) -> dict:
        d = asdict(self)
        d.pop("file")
        d["url"] = f"/api/gallery/{self.id}/file"
        return d


class Gallery:
    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def new_id(self) -> str:
        return secrets.token_hex(8)

    def path_for(self, item_id: str, suffix: str) -> Path:
        return self.folder / f"{item_id}{suffix}"

    def add(self, item: Item) -> Item:
        meta = self.folder / f"{item.id}.json"
        tmp = meta.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(item)))
        os.replace(tmp, meta)
        return item

    def get(self, item_id: str) -> Item | None:
        if not item_id.isalnum():
            return None
        meta = self.folder / f"{item_id}.json"
        return Item(**json.loads(meta.read_text())) if meta.exists() else None

    def items(self) -> list[Item]:
        out = [Item(**json.loads(p.read_text())) for p in self.folder.glob("*.json")]
        return sorted(out, key=lambda i: i.created, reverse=True)

    def remove(self, item_id: str) -> bool:
        item = self.get(item_id)
        if item is None:
            return False
        (self.folder / item.file).unlink(missing_ok=True)
        (self.folder / f"{item.id}.json").unlink()
        return True

    @staticmethod
    def now() -> float:
        return time.time()
