"""A folder of photos fanned out over a Ray cluster: batches of files, one task each."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

from ..engine import Engine
from ..media.atomic import atomic_output
from .connect import Cluster
from .task import PhotoDone, Snapshot, redact_photos
from .tasks import cancel_all, completed, remote

PHOTOS_PER_TASK = 16  # enough to outweigh a task's start, few enough to spread a folder over the workers
PHOTO_RETRIES = 3


def redact_photos_on_ray(cluster: Cluster, engine: Engine, files: list[Path], dst: Path, max_pixels: int,
                         progress: Callable[[int], None] | None = None) -> list[dict]:
    """Each of ``files`` redacted on ``cluster`` and written into the folder ``dst`` (each file
    atomically, as it comes back); the reports in the order of ``files``, a failed photo's with
    its ``error``."""
    import ray

    size = max(1, min(PHOTOS_PER_TASK, math.ceil(len(files) / max(1, cluster.cpus))))
    batches = [files[i:i + size] for i in range(0, len(files), size)]
    task = remote(redact_photos, retries=PHOTO_RETRIES)
    reports: list[list[dict] | None] = [None] * len(batches)
    pending: list = []
    with cancel_all(pending):
        snapshot = ray.put(Snapshot.of(engine))
        refs = [task.remote(snapshot, [str(f.resolve()) for f in batch], max_pixels) for batch in batches]

        def subject(n: int) -> str:
            return f"{batches[n][0].parent}: photos {n * size + 1}-{n * size + len(batches[n])}"

        done: list[PhotoDone]
        for n, done in completed(refs, pending, subject):
            for photo in done:
                if photo.image is not None:
                    out = dst / photo.name
                    with atomic_output(out) as tmp:
                        tmp.write_bytes(photo.image)
                    photo.report["output"] = str(out)
            reports[n] = [photo.report for photo in done]
            if progress:
                progress(len(done))
    return [r for batch in reports for r in batch]
