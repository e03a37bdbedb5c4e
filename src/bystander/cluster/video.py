"""A video redacted on a Ray cluster: planned into segments here, each redacted by a task, the
results stitched here into one file with the input's frames, timestamps and audio."""

from __future__ import annotations

import contextlib
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..engine import Engine
from ..errors import BystanderError
from ..media.atomic import atomic_output
from ..media.redact_video import CONTAINERS, VideoResult, report_summary
from .connect import Cluster
from .plan import DEFAULT_SEGMENT_SECONDS, plan_segments
from .stitch import stitch
from .task import SegmentDone, SegmentJob, Snapshot, redact_segment
from .tasks import cancel_all, completed, remote

# Ray retries a task whose worker died (killed, out of memory, its node lost) this many times.
SEGMENT_RETRIES = 3


@dataclass
class ClusterVideoResult:
    result: VideoResult
    segments: int
    cluster: Cluster
    plan_seconds: float = 0.0  # reading the container's index for keyframes
    segment_seconds: tuple[float, ...] = ()  # each task's own time, warm-up and look-ahead included
    stitch_seconds: float = 0.0

    def summary(self) -> str:
        return f"{self.result.summary()}; {self.segments} segment(s) on {self.cluster.describe()}"


def redact_video_on_ray(cluster: Cluster, engine: Engine, src: Path, dst: Path, *,
                        segment_seconds: float = DEFAULT_SEGMENT_SECONDS, crf: int = 20, preset: str = "veryfast",
                        detect_every: int = 1, report: Path | None = None,
                        progress: Callable[[int, int | None], None] | None = None,
                        keep_metadata: bool = False, max_pixels: int | None = None) -> ClusterVideoResult:
    """Like ``redact_video``, on ``cluster``. Atomic the same way: a failed or interrupted job
    leaves ``dst`` and ``report`` as they were, and its tasks are cancelled."""
    src, dst = Path(src), Path(dst)
    fmt = CONTAINERS.get(dst.suffix.lower())
    if fmt is None:
        raise BystanderError(f"{dst}: output must be .mp4, .m4v, .mov or .mkv (H.264 video)")
    if not segment_seconds > 0:
        raise BystanderError(f"--segment-seconds {segment_seconds}: must be more than 0")
    start = time.perf_counter()
    plan = plan_segments(src, segment_seconds, detect_every, max_pixels)
    planned = time.perf_counter()
    import ray

    task = remote(redact_segment, retries=SEGMENT_RETRIES)
    done: list[SegmentDone | None] = [None] * len(plan.spans)
    result = VideoResult(expected_frames=plan.frames, rate=float(plan.rate))
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(atomic_output(dst))
        log = stack.enter_context(atomic_output(Path(report))) if report else None
        # Beside the output: the segments add up to its size, more than a small /tmp may hold.
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=".bystander-segments-", dir=dst.parent)))
        pending: list = []
        with cancel_all(pending):
            snapshot = ray.put(Snapshot.of(engine))
            jobs = [SegmentJob(str(src.resolve()), span, crf, preset, detect_every, report is not None)
                    for span in plan.spans]
            refs = [task.remote(snapshot, job) for job in jobs]
            segment: SegmentDone
            for n, segment in completed(refs, pending, lambda n: f"{src}: segment {n + 1} of {len(refs)}"):
                (folder / f"{n}.mp4").write_bytes(segment.video)
                segment.video = b""  # on disk now: not held until the end
                done[n] = segment
                if progress:
                    progress(sum(d.result.frames for d in done if d), plan.frames)
        for n, segment in enumerate(done):
            result.frames += segment.result.frames
            result.faces_redacted += segment.result.faces_redacted
            result.damage += segment.result.damage
            result.privacy.merge(segment.result.privacy, n)
        stitching = time.perf_counter()
        written = stitch([(folder / f"{n}.mp4", span.start) for n, span in enumerate(plan.spans)], src, tmp, fmt,
                         keep_metadata)
        stitched = time.perf_counter()
        if written != result.frames:
            raise BystanderError(f"{dst}: {written} frames joined of the {result.frames} redacted")
        result.seconds = time.perf_counter() - start
        if log:
            log.write_text(json.dumps({"input": str(src), "output": str(dst),
                                       "frames": [f for d in done for f in d.frames],
                                       "summary": {**report_summary(result), "segments": len(done)}}) + "\n")
    return ClusterVideoResult(result, len(done), cluster, planned - start,
                              tuple(d.result.seconds for d in done), stitched - stitching)
