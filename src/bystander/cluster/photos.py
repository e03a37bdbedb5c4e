"""Photos fanned out over a Ray cluster: batches of files, one task each."""

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


def redact_photos_on_ray(cluster: Cluster, engine: Engine, files: list[tuple[Path, Path]], max_pixels: int,
                         keep_metadata: bool = False, progress: Callable[[int], None] | None = None) -> list[dict]:
    """Each of ``files`` (input, output) redacted on ``cluster`` and written to its output (each
    atomically, as it comes back); the reports in the order of ``files``, a failed photo's with its
    ``error``."""
    import ray

    size = max(1, min(PHOTOS_PER_TASK, math.ceil(len(files) / max(1, cluster.cpus))))
    batches = [files[i:i + size] for i in range(0, len(files), size)]
    task = remote(redact_photos, retries=PHOTO_RETRIES)
    reports: list[list[dict] | None] = [None] * len(batches)
    pending: list = []
    with cancel_all(pending):
        snapshot = ray.put(Snapshot.of(engine))
        refs = [task.remote(snapshot, [str(src.resolve()) for src, _ in batch], max_pixels, keep_metadata)
                for batch in batches]

        def subject(n: int) -> str:
            return f"{batches[n][0][0].parent}: photos {n * size + 1}-{n * size + len(batches[n])}"

        done: list[PhotoDone]
        for n, done in completed(refs, pending, subject):
            for photo, (_, out) in zip(done, batches[n]):
                if photo.image is not None:
                    with atomic_output(out) as tmp:
                        tmp.write_bytes(photo.image)
                    photo.report["output"] = str(out)
            reports[n] = [photo.report for photo in done]
            if progress:
                progress(len(done))
    return [r for batch in reports for r in batch]
