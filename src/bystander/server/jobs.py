"""Background video jobs: one at a time, progress kept on disk so a page reload finds them again."""

from __future__ import annotations

import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from ..engine import Engine
from ..media.redact_video import VideoResult, redact_video


@dataclass
class Job:
    id: str
    name: str
    state: str = "queued"  # queued, running, done, failed
    done_frames: int = 0
    total_frames: int | None = None
    error: str | None = None
    item: str | None = None  # gallery id of the result
    created: float = 0.0

    @property
    def progress(self) -> float | None:
        if self.state == "done":
            return 1.0
        return self.done_frames / self.total_frames if self.total_frames else None

    def as_dict(self) -> dict:
        return {**asdict(self), "progress": self.progress}


class Jobs:
    def __init__(self, folder: Path):
        self.cluster = None  # a cluster.connect.Cluster under serve --ray: video jobs run on it
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bystander-job")
        self._lock = threading.Lock()
        for job in self.all():  # a restart interrupts whatever was running
            if job.state in ("queued", "running"):
                job.state, job.error = "failed", "interrupted: the server restarted"
                self._save(job)

    def _save(self, job: Job) -> None:
        path = self.folder / f"{job.id}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(job)))
        os.replace(tmp, path)

    def get(self, job_id: str) -> Job | None:
        path = self.folder / f"{job_id}.json"
        if not job_id.isalnum() or not path.exists():
            return None
        return Job(**json.loads(path.read_text()))

    def all(self) -> list[Job]:
        return sorted((Job(**json.loads(p.read_text())) for p in self.folder.glob("*.json")),
                      key=lambda j: j.created, reverse=True)

    def redact_video(self, engine: Engine, src: Path, dst: Path,
                     progress: Callable[[int, int | None], None]) -> VideoResult:
        """A video job's redaction, here or (under serve --ray) on the cluster."""
        if self.cluster is None:
            return redact_video(engine, src, dst, progress=progress)
        from ..cluster.video import redact_video_on_ray

        return redact_video_on_ray(self.cluster, engine, src, dst, progress=progress).result

    def submit(self, job: Job, work: Callable[[Callable[[int, int | None], None]], str]) -> Job:
        """Run ``work(progress)`` in the background; it returns the gallery id of the result."""
        job.created = time.time()
        self._save(job)

        def progress(done: int, total: int | None) -> None:
            job.done_frames, job.total_frames = done, total
            if done % 10 == 0:
                self._save(job)

        def run() -> None:
            job.state = "running"
            self._save(job)
            try:
                job.item = work(progress)
                job.state = "done"
            except Exception as exc:  # reported to the page, the server keeps running
                job.state, job.error = "failed", str(exc)
            self._save(job)

        self._pool.submit(run)
        return job

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
