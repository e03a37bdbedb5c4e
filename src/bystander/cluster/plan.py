"""Cutting a video into segments at keyframes, each with the overlap it needs to be judged alone."""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from ..errors import InputError
from ..media.redact_video import Span
from ..media.video import open_input

# Frames judged before a segment's first written frame, so that tracks and identities are
# established as in one pass: a registered face needs two recognitions, spaced up to a few
# frames apart, and an unknown one is rechecked at most every 15 frames.
WARMUP_SECONDS = 2.0
DEFAULT_SEGMENT_SECONDS = 60.0


@dataclass(frozen=True)
class Plan:
    spans: list[Span]
    frames: int
    time_base: Fraction
    rate: Fraction


def plan_segments(src: Path, segment_seconds: float = DEFAULT_SEGMENT_SECONDS, detect_every: int = 1,
                  max_pixels: int | None = None) -> Plan:
    """Segments of about ``segment_seconds``, each starting at a keyframe, read from a warm-up of
    ``WARMUP_SECONDS`` before it (the look-ahead after it is read by ``redact_video`` itself). Read
    from the container's packets alone, without decoding. A file whose timestamps cannot place
    every frame is one segment. Frames over ``max_pixels`` are refused, as ``open_input`` does."""
    with open_input(src, max_pixels) as container:
        video = container.streams.video[0]
        tb = video.time_base
        rate = video.average_rate or video.guessed_rate or Fraction(30)
        pts: list[int | None] = []
        keys: list[int] = []
        try:
            for packet in container.demux(video):
                if packet.size == 0:
                    continue  # the demuxer's flush packet
                pts.append(packet.pts)
                if packet.is_keyframe and packet.pts is not None:
                    keys.append(packet.pts)
        except av.error.FFmpegError as exc:
            raise InputError(f"{src}: damaged video, cannot be cut into segments "
                             f"({exc.strerror or exc}); run it without --ray") from None
    if not pts:
        raise InputError(f"{src}: no video frame could be decoded")
    if None in pts or len(set(pts)) != len(pts):
        return _whole(len(pts), tb, rate)
    times: list[int] = sorted(pts)  # type: ignore[arg-type]
    keys.sort()
    if not keys or keys[0] != times[0]:
        return _whole(len(times), tb, rate)
    length = segment_seconds / tb  # in time base units
    warmup = round(WARMUP_SECONDS * rate)
    starts = [0]
    for key in keys[1:]:
        if key - times[starts[-1]] >= length:
            starts.append(bisect.bisect_left(times, key))
    spans = []
    for n, start in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(times)
        warm = max(0, start - warmup) // detect_every * detect_every  # the detector's phase as in one pass
        seek = keys[bisect.bisect_right(keys, times[warm]) - 1]
        spans.append(Span(seek=seek, warm=times[warm], start=times[start],
                          end=times[end] if end < len(times) else None, frames=end - start,
                          first_index=bisect.bisect_left(times, seek)))
    return Plan(spans, len(times), tb, rate)


def _whole(frames: int, tb: Fraction, rate: Fraction) -> Plan:
    return Plan([Span(seek=None, warm=-(2**62), start=-(2**62), end=None, frames=frames, first_index=0)],
                frames, tb, rate)
