"""Redacting a video file: reader → engine (tracked, with look-ahead) → writer."""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import av

from ..engine import Engine
from ..engine.judge import Judge, Judged
from ..engine.report import PrivacyReport
from ..errors import BystanderError
from .atomic import atomic_output
from .video import BackgroundWriter, Damage, VideoReader, VideoWriter, open_input

CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}


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
                 progress: Callable[[int, int | None], None] | None = None) -> VideoResult:
    """Write ``dst`` with every face not confirmed as registered redacted. Atomic: on any failure
    (or Ctrl-C) ``dst`` and ``report`` are left as they were."""
    dst = Path(dst)
    fmt = CONTAINERS.get(dst.suffix.lower())
    if fmt is None:
        raise BystanderError(f"{dst}: output must be .mp4, .m4v, .mov or .mkv (H.264 video)")
    result = VideoResult()
    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        reader = VideoReader(stack.enter_context(open_input(src)))
        tmp = stack.enter_context(atomic_output(dst))
        log = _FrameLog(stack.enter_context(atomic_output(Path(report))), src, dst) if report else None
        result.expected_frames = reader.expected_frames
        result.rate = float(reader.rate or 30)
        window = max(engine.config.backfill_frames, round(result.rate * engine.config.file_window_seconds))
        judge = Judge(engine, window=window, detect_every=detect_every)
        writer: BackgroundWriter | None = None
        early_audio: list[av.Packet] = []  # audio that arrives before the first frame is final
        last_time = 0.0

        def on_audio(packet: av.Packet) -> None:
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
                    tmp, w, h, reader.time_base, reader.rate, reader.audio,
                    crf=crf, preset=preset, container_format=fmt)))
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

        for frame in reader.frames(on_audio, prefetch=4):
            for item in judge.push(frame.image, frame):
                emit(item)
        for item in judge.flush():
            emit(item)
        if writer is None:
            raise BystanderError(f"{src}: no video frame could be decoded")
        writer.finish()
        result.damage = reader.damage
        if result.expected_frames and result.frames < result.expected_frames * 0.98 and not result.damage:
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
        summary = {"frames": result.frames, "faces_redacted": result.faces_redacted,
                   "registered_kept": result.registered_kept, "seconds": round(result.seconds, 3),
                   "damage": [str(d) for d in result.damage], "privacy": result.privacy.as_dict(result.rate)}
        self._fh.write(f'\n], "summary": {json.dumps(summary)}}}\n')
        self._fh.close()
