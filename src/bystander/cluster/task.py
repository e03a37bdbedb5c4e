"""What a Ray worker runs: one video segment, or a batch of photos, with the engine built once
per worker process from the registry snapshot the job was started with."""

from __future__ import annotations

import json
import tempfile
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..engine import Engine, EngineConfig, Gallery
from ..errors import BystanderError
from ..media.redact_photo import redact_photo
from ..media.redact_video import Span, VideoResult, redact_video

# Each task gets one CPU from Ray, so the detector runs on one thread: the cluster's parallelism
# comes from running segments side by side.
TASK_THREADS = 1


@dataclass(frozen=True)
class Snapshot:
    """The registry and settings a job started with: every task judges with the same."""

    gallery: Gallery
    config: EngineConfig
    token: str = field(default_factory=lambda: uuid.uuid4().hex)  # names this snapshot in the cache

    @classmethod
    def of(cls, engine: Engine) -> "Snapshot":
        return cls(engine.gallery, replace(engine.config, threads=TASK_THREADS))


@dataclass(frozen=True)
class SegmentJob:
    src: str  # read by path: on a cluster of several machines, every node sees it at the same path
    span: Span
    crf: int
    preset: str
    detect_every: int
    report: bool  # whether to send back the per-frame report's entries


@dataclass
class SegmentDone:
    video: bytes  # the segment as MP4, sent back through Ray's object store
    result: VideoResult
    frames: list[dict]  # its entries of the per-frame report, if asked for


@dataclass
class PhotoDone:
    image: bytes | None
    report: dict


_engine: tuple[str, Engine] | None = None  # the last snapshot's engine: models load once per worker


def engine_for(snapshot: Snapshot) -> Engine:
    global _engine
    if _engine is None or _engine[0] != snapshot.token:
        if _engine is not None and _engine[1].config == snapshot.config:
            engine = _engine[1].with_config()
            engine.gallery = snapshot.gallery
        else:
            engine = Engine(snapshot.gallery, snapshot.config)
        _engine = (snapshot.token, engine)
    return _engine[1]


def redact_segment(snapshot: Snapshot, job: SegmentJob) -> SegmentDone:
    engine = engine_for(snapshot)
    with tempfile.TemporaryDirectory(prefix="bystander-segment-") as folder:
        out, report = Path(folder) / "segment.mp4", Path(folder) / "report.json"
        result = redact_video(engine, Path(job.src), out, crf=job.crf, preset=job.preset,
                              detect_every=job.detect_every, report=report if job.report else None, span=job.span)
        frames = json.loads(report.read_text())["frames"] if job.report else []
        return SegmentDone(out.read_bytes(), result, frames)


def redact_photos(snapshot: Snapshot, files: list[str], max_pixels: int, keep_metadata: bool) -> list[PhotoDone]:
    """Each of ``files`` redacted, in their order (two may share a name: from two folders)."""
    engine = engine_for(snapshot)
    done = []
    with tempfile.TemporaryDirectory(prefix="bystander-photos-") as folder:
        for n, f in enumerate(map(Path, files)):
            out = Path(folder) / f"{n}{f.suffix}"
            try:
                report = redact_photo(engine, f, out, max_pixels, keep_metadata)
            except BystanderError as exc:
                done.append(PhotoDone(None, {"input": str(f), "error": str(exc)}))
                continue
            done.append(PhotoDone(out.read_bytes(), report))
            out.unlink()
    return done
