"""Keeping faces' identities across frames.

Detections are associated to tracks greedily by overlap (or, for small fast
faces whose boxes no longer overlap, by centre distance). A track that the
detector misses is held for a few frames at its last box, grown a little each
frame, so a one-frame miss never shows a face.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .face import Face


def iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _similar_size(a, b) -> bool:
    ha, hb = a[3] - a[1], b[3] - b[1]
    return 0.5 <= ha / hb <= 2.0 if hb > 0 else False


def _close(a, b) -> bool:
    """Centres within 60 % of the larger face's size: the same face moved fast."""
    ca = ((a[0] + a[2]) / 2, (a[1] + a[3]) / 2)
    cb = ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)
    size = max(a[2] - a[0], a[3] - a[1], b[2] - b[0], b[3] - b[1])
    return float(np.hypot(ca[0] - cb[0], ca[1] - cb[1])) < 0.6 * size


def grow(box, factor: float):
    x1, y1, x2, y2 = box
    dx, dy = (x2 - x1) * factor / 2, (y2 - y1) * factor / 2
    return (x1 - dx, y1 - dy, x2 + dx, y2 + dy)


@dataclass
class Track:
    id: int
    box: tuple[float, float, float, float]
    previous: tuple[float, float, float, float] | None = None  # last frame's box
    face: Face | None = None  # this frame's detection, None while held
    born: int = 0  # frame index of the first detection
    misses: int = 0  # frames in a row without a detection
    last_seen: int = 0  # frame index of the latest detection
    velocity: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # box change per frame

    def predicted(self, frame: int) -> tuple[float, float, float, float]:
        """Where the face should be at ``frame`` if it kept moving as between its last detections."""
        k = frame - self.last_seen
        return tuple(b + v * k for b, v in zip(self.box, self.velocity))


class Tracker:
    def __init__(self, hold: int = 8, min_iou: float = 0.2):
        self.hold = hold
        self.min_iou = min_iou
        self.tracks: list[Track] = []
        self._next_id = 1
        self.frame = -1

    def skip(self) -> None:
        """A frame passes without detection; tracks keep their state."""
        self.frame += 1

    def reset(self) -> None:
        """A shot cut: whoever is in the new shot starts a track of their own."""
        self.tracks = []

    def update(self, faces: list[Face], frame: int | None = None) -> tuple[list[Track], list[Track]]:
        """Associate the faces of the next frame (or of ``frame``, the latest one skipped).
        Returns (tracks seen now, tracks held without a detection)."""
        self.frame = self.frame + 1 if frame is None else frame
        pairs = []
        for ti, t in enumerate(self.tracks):
            for fi, f in enumerate(faces):
                o = iou(t.box, f.box)
                if _similar_size(t.box, f.box) and (o >= self.min_iou or _close(t.box, f.box)):
                    pairs.append((o, ti, fi))
        pairs.sort(key=lambda p: -p[0])
        used_t, used_f = set(), set()
        seen: list[Track] = []
        for _, ti, fi in pairs:
            if ti in used_t or fi in used_f:
                continue
            used_t.add(ti)
            used_f.add(fi)
            t = self.tracks[ti]
            new = faces[fi].box
            if t.misses == 0:
                gap = max(1, self.frame - t.last_seen)
                t.velocity = tuple((n - o) / gap for n, o in zip(new, t.box))
            t.previous, t.box, t.face, t.misses, t.last_seen = t.box, new, faces[fi], 0, self.frame
            seen.append(t)
        held: list[Track] = []
        survivors: list[Track] = []
        for ti, t in enumerate(self.tracks):
            if ti in used_t:
                survivors.append(t)
                continue
            t.misses += 1
            t.face = None
            t.previous = t.box
            if t.misses <= self.hold:
                t.box = grow(t.box, 0.02)
                held.append(t)
                survivors.append(t)
        for fi, f in enumerate(faces):
            if fi not in used_f:
                t = Track(self._next_id, f.box, face=f, born=self.frame, last_seen=self.frame)
                self._next_id += 1
                seen.append(t)
                survivors.append(t)
        self.tracks = survivors
        return seen, held
