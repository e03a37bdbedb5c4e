"""Look-ahead for files: redact a face in the frames just before it was first detected.

Detectors find a face a few frames after it enters (it is small, blurred by
motion, turned away). When frames can wait, as in a file, they are held back
``depth`` frames; when a new track appears, its box is also redacted in the
held frames before it. Held-track boxes cover the frames after a miss, so a
face is covered on both sides of where it was seen.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np

from .cut import is_cut, thumbnail
from .face import Decision
from .pipeline import Stream
from .track import grow


@dataclass
class Pending:
    frame: np.ndarray
    payload: Any  # whatever the caller needs back with the frame (its timestamp, say)
    decisions: list[Decision]
    backfill: list = field(default_factory=list)  # boxes of faces first seen in later frames

    @property
    def backfilled(self) -> int:
        return len(self.backfill)


class Lookahead:
    def __init__(self, stream: Stream, depth: int = 8, detect_every: int = 1):
        self.stream = stream
        self.depth = depth
        # Between detections faces are carried along their tracks (``Stream.coast``); a face that
        # enters meanwhile is backfilled once the next detection finds it, so the skipped frames
        # are covered as well, as long as ``detect_every`` stays well under ``depth``.
        self.detect_every = detect_every
        self._count = 0
        self._last_detected = None  # thumbnail of the last detected frame, to notice cuts
        self._pending: deque[Pending] = deque()
        self._known: set[int] = set()

    def push(self, frame: np.ndarray, payload: Any = None) -> Iterator[Pending]:
        """Analyse ``frame``; yield the frames that are now final, oldest first."""
        skip = self._count % self.detect_every != 0
        self._count += 1
        thumb = thumbnail(frame) if self.detect_every > 1 else None
        if skip and is_cut(thumb, self._last_detected):
            skip = False
            self._count = 1
        if skip:
            decisions = self.stream.coast()
        else:
            decisions = self.stream.analyse(frame)
            self._last_detected = thumb
        item = Pending(frame, payload, decisions)
        for d in decisions:
            if d.track_id is None or d.track_id in self._known:
                continue
            self._known.add(d.track_id)
            # A new face: it was probably there, undetected, in the frames just before.
            ghost = grow(d.face.box, 0.15)
            for earlier in self._pending:
                earlier.backfill.append(ghost)
        self._pending.append(item)
        self._known &= {t.id for t in self.stream.tracker.tracks}
        while len(self._pending) > self.depth:
            yield self._pending.popleft()

    def flush(self) -> Iterator[Pending]:
        while self._pending:
            yield self._pending.popleft()
