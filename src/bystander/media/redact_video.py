"""Redacting a video file: reader → engine (tracked, with look-ahead) → writer."""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import av

from ..engine import Engine
from ..engine.judge import Judge, Judged
from ..engine.report import PrivacyReport
from ..errors import BystanderError
from .atomic import atomic_output
from .video import BackgroundWriter, Damage, VideoReader, VideoWriter, file_metadata, open_input

CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}  # what the output can be
VIDEO_SUFFIXES = {*CONTAINERS, ".webm", ".avi"}  # what a video input is, in a folder or an upload


@dataclass(frozen=True)
class Span:
    """A stretch of a file redacted on its own (a cluster segment), in the video stream's time base.

    Decoding starts at the keyframe ``seek``; frames from ``warm`` on go through the judge, but only
    those from ``start`` up to (not including) ``end`` are written. The frames before ``start`` are a
    warm-up, so that tracks and identities are established as they would be in one pass; the frames
    after are read only as far as the judge looks ahead. Audio is not written: the whole file's is
    copied once when the segments are joined."""

    seek: int | None  # None: from the file's start
    warm: int
    start: int
    end: int | None  # None: to the end of the file
    frames: int  # frames from start to end
    first_index: int  # the file's frame index at ``seek``, for the report


@dataclass
class VideoResult:
    frames: int = 0
    faces_redacted: int = 0  # face-frames redacted (detected, held or backfilled)
    seconds: float = 0.0
    damage: list[Damage] = field(default_factory=list)
    expected_frames: int | None = None
    privacy: PrivacyReport = field(default_factory=PrivacyReport)
    rate: float = 0.0  # the input's nominal frame rate

    @property
    def registered_kept(self) -> int:
        """Face-frames left visible as a registered person."""
        return sum(self.privacy.kept_frames.values())

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        return (f"{self.frames} frames; {self.privacy.summary(self.rate)}; "
                f"{self.seconds:.1f} s ({self.fps:.1f} fps)")


def redact_video(engine: Engine, src: Path, dst: Path, *, crf: int = 20, preset: str = "veryfast",
                 detect_every: int = 1, report: Path | None = None,
                 progress: Callable[[int, int | None], None] | None = None,
                 span: Span | None = None, keep_metadata: bool = False,
                 max_pixels: int | None = None) -> VideoResult:
    """Write ``dst`` with every face not confirmed as registered redacted. Atomic: on any failure
    (or Ctrl-C) ``dst`` and ``report`` are left as they were. With ``span``, only that stretch is
    written, video only. The input's tags (time, place, camera) are left out unless ``keep_metadata``.
    With ``max_pixels``, a video whose frames are larger is refused before any is decoded."""
    dst = Path(dst)
    fmt = CONTAINERS.get(dst.suffix.lower())
    if fmt is None:
        raise BystanderError(f"{dst}: output must be .mp4, .m4v, .mov or .mkv (H.264 video)")
    result = VideoResult()
    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        reader = VideoReader(stack.enter_context(open_input(src, max_pixels)))
        if span is not None and span.seek is not None:
            reader.seek(span.seek, span.first_index)
        tmp = stack.enter_context(atomic_output(dst))
        log = _FrameLog(stack.enter_context(atomic_output(Path(report))), src, dst) if report else None
        result.expected_frames = reader.expected_frames if span is None else span.frames
        result.rate = float(reader.rate or 30)
        window = max(engine.config.backfill_frames, round(result.rate * engine.config.file_window_seconds))
        judge = Judge(engine, window=window, detect_every=detect_every)
        writer: BackgroundWriter | None = None
        early_audio: list[av.Packet] = []  # audio that arrives before the first frame is final
        last_time = 0.0
        audio = reader.audio if span is None else None

        def on_audio(packet: av.Packet) -> None:
            if audio is None:
                return
            if writer is None:
                early_audio.append(packet)
            else:
                writer.write_audio(packet)

        def emit(item: Judged) -> None:
            nonlocal writer, last_time
            frame = item.payload
            if writer is None:
                h, w = item.image.shape[:2]
                writer = stack.enter_context(BackgroundWriter(VideoWriter(
                    tmp, w, h, reader.time_base, reader.rate, audio,
                    crf=crf, preset=preset, container_format=fmt,
                    metadata=file_metadata(reader.container) if keep_metadata else None)))
                for packet in early_audio:
                    writer.write_audio(packet)
                early_audio.clear()
            engine.redact_decisions(item.image, item.decisions)
            writer.write(item.image, frame.pts, frame.time_base)
            last_time = frame.seconds
            result.frames += 1
            result.privacy.add(item)
            result.faces_redacted += sum(d.redact for d in item.decisions or ())
            if log:
                log.frame(frame, item)
            if progress:
                progress(result.frames, result.expected_frames)

        def judged() -> Iterator[Judged]:
            with contextlib.closing(reader.frames(on_audio, prefetch=4)) as frames:
                for frame in frames:
                    if span is None or frame.pts >= span.warm:
                        yield from judge.push(frame.image, frame)
            yield from judge.flush()

        with contextlib.closing(judged()) as items:
            for item in items:
                if span is not None and span.end is not None and item.payload.pts >= span.end:
                    break  # the span is written whole; what follows was read as look-ahead only
                if span is None or item.payload.pts >= span.start:
                    emit(item)
        if writer is None:
            raise BystanderError(f"{src}: no video frame could be decoded")
        writer.finish()
        result.damage = reader.damage
        # A frame's slack: where the container gives no count, it is estimated from the duration.
        if result.expected_frames and result.frames < result.expected_frames * 0.98 - 1 and not result.damage:
            result.damage.append(Damage(result.frames, last_time, f"the video ends early: {result.frames} of "
                                        f"{result.expected_frames} frames decoded (truncated file?)"))
        result.seconds = time.perf_counter() - start
        if log:
            log.close(result)
    return result


class _FrameLog:
    """Streams the per-frame report to disk, so a long video does not grow memory."""

    def __init__(self, path: Path, src: Path, dst: Path):
        self._fh = open(path, "w")
        self._fh.write(f'{{"input": {json.dumps(str(src))}, "output": {json.dumps(str(dst))}, "frames": [\n')
        self._first = True

    def frame(self, frame, item: Judged) -> None:
        entry = {"index": frame.index, "time": round(frame.seconds, 4),
                 "faces": [d.as_dict() for d in item.decisions or ()], "whole": item.decisions is None}
        self._fh.write(("" if self._first else ",\n") + json.dumps(entry))
        self._first = False

    def close(self, result: VideoResult) -> None:
        self._fh.write(f'\n], "summary": {json.dumps(report_summary(result))}}}\n')
        self._fh.close()


def report_summary(result: VideoResult) -> dict:
    """The summary that ends a video's report."""
    return {"frames": result.frames, "faces_redacted": result.faces_redacted,
            "registered_kept": result.registered_kept, "seconds": round(result.seconds, 3),
            "damage": [str(d) for d in result.damage], "privacy": result.privacy.as_dict(result.rate)}
