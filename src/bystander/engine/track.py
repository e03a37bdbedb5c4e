"""Keeping faces' identities across frames.

Each track's box is carried forward by its own motion (the box change per frame between its last
two detections), and detections are associated to tracks greedily by overlap with that prediction
(or, for small fast faces whose boxes no longer overlap, by centre distance). Closeness to another
face is no reason to doubt an association; a *rival* is: another detection that would fit the
track almost as well, or another track that would fit the detection almost as well, or another
face overlapping this one (one passing in front of the other). Such an association is marked
``ambiguous``, and the judge carries no identity across it.

A track that the detector misses is held for a few frames at its last box, grown a little each
frame, so a one-frame miss never shows a face.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .face import Face

Box = tuple[float, float, float, float]


def iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def overlap_of_smaller(a, b) -> float:
    """The share of the smaller box that the other covers."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return ix * iy / smaller if smaller > 0 else 0.0


def similar_size(a, b) -> bool:
    ha, hb = a[3] - a[1], b[3] - b[1]
    return 0.5 <= ha / hb <= 2.0 if hb > 0 else False


def centre_distance(a, b) -> float:
    return float(np.hypot((a[0] + a[2] - b[0] - b[2]) / 2, (a[1] + a[3] - b[1] - b[3]) / 2))


TRACKING_REACH = 0.6  # of the larger face's size: a detection this close to a track may be its face, moved fast


def close(a, b, reach: float = TRACKING_REACH) -> bool:
    """Centres within ``reach`` of the larger face's size."""
    size = max(a[2] - a[0], a[3] - a[1], b[2] - b[0], b[3] - b[1])
    return centre_distance(a, b) < reach * size


def grow(box, factor: float):
    x1, y1, x2, y2 = box
    dx, dy = (x2 - x1) * factor / 2, (y2 - y1) * factor / 2
    return (x1 - dx, y1 - dy, x2 + dx, y2 + dy)


@dataclass
class Track:
    id: int
    box: Box
    previous: Box | None = None  # last frame's box
    face: Face | None = None  # this frame's detection, None while held
    born: int = 0  # frame index of the first detection
    misses: int = 0  # frames in a row without a detection
    last_seen: int = 0  # frame index of the latest detection
    velocity: Box = (0.0, 0.0, 0.0, 0.0)  # box change per frame
    expected: Box | None = None  # where its motion put it on this frame's detection
    missed: int = 0  # detections it missed before this one (0: seen on the one before)
    ambiguous: bool = False  # this frame's association had a rival: identity cannot be carried
    score: float = 0.0  # its latest detection's
    hits: int = 1  # detections so far
    seeded: bool = False  # its velocity was given (``seed``), not measured between its own detections

    def seed(self, velocity: Box) -> None:
        """Start a new track moving as the way it came says (``Judge._bridge``). The next association
        may use it, but nothing takes it for a jump when the track does not move so."""
        self.velocity = velocity
        self.seeded = True

    def predicted(self, frame: int) -> Box:
        """Where the face should be at ``frame`` if it kept moving as between its last detections."""
        k = frame - self.last_seen
        return tuple(b + v * k for b, v in zip(self.box, self.velocity))  # type: ignore[return-value]


class Tracker:
    def __init__(self, hold: int = 8, min_iou: float = 0.2, rival: float = 0.5, overlap: float = 0.3,
                 clear: float = 0.0, lasting: int = 3):
        """``rival``: a second candidate fitting at least this share as well as the best makes the
        association ambiguous; ``overlap``: faces covering this share of the smaller one overlap.
        Only faces detected at ``clear`` or more, or faint ones ``lasting`` detections at least, are
        rivals: a faint detection that comes and goes beside a face is a hand or hair more often
        than a second face."""
        self.hold = hold
        self.clear = clear
        self.lasting = lasting
        self.min_iou = min_iou
        self.rival = rival
        self.overlap = overlap
        self.tracks: list[Track] = []
        self._next_id = 1
        self.frame = -1

    def skip(self) -> None:
        """A frame passes without detection; tracks keep their state."""
        self.frame += 1

    def reset(self) -> None:
        """A shot cut: whoever is in the new shot starts a track of their own."""
        self.tracks = []

    def _fit(self, expected: Box, last: Box, box: Box) -> float:
        """How well a detection fits a track: the overlap with where its motion puts it, or with its
        last box where that fits better (a stop or turn); a small share for centres merely close."""
        if not similar_size(last, box):
            return 0.0
        o = max(iou(expected, box), iou(last, box))
        if o >= self.min_iou:
            return o
        return self.min_iou / 2 if close(expected, box) or close(last, box) else 0.0

    def unfound(self, faces: list[Face], frame: int | None = None, within: int = 0) -> list[tuple[Track, Box]]:
        """Tracks detected within the last ``within`` detections that none of ``faces`` (those of the
        next frame, or of ``frame``) fits, each with where it was expected: faces the detector is
        about to lose."""
        at = self.frame + 1 if frame is None else frame
        lost = []
        for t in self.tracks:
            if t.misses > within:
                continue
            expected = t.predicted(at) if t.misses == 0 else t.box
            if all(self._fit(expected, t.box, f.box) == 0.0 for f in faces):
                lost.append((t, expected))
        return lost

    def update(self, faces: list[Face], frame: int | None = None) -> tuple[list[Track], list[Track]]:
        """Associate the faces of the next frame (or of ``frame``, the latest one skipped).
        Returns (tracks seen now, tracks held without a detection)."""
        self.frame = self.frame + 1 if frame is None else frame
        expected = [t.predicted(self.frame) if t.misses == 0 else t.box for t in self.tracks]
        fit = np.zeros((len(self.tracks), len(faces)))
        for ti, t in enumerate(self.tracks):
            for fi, f in enumerate(faces):
                fit[ti, fi] = self._fit(expected[ti], t.box, f.box)
        pairs = sorted(((fit[ti, fi], ti, fi) for ti, fi in zip(*np.nonzero(fit))), key=lambda p: -p[0])
        owner: dict[int, int] = {}  # detection -> track index
        for _, ti, fi in pairs:
            if ti not in owner.values() and fi not in owner:
                owner[fi] = ti
        # Rivals: clear faces, and faint ones that lasted up to now (a face half hidden behind another).
        rival_t = np.array([t.score >= self.clear or (t.hits >= self.lasting and t.misses == 0)
                            for t in self.tracks], bool)
        rival_f = np.array([f.score >= self.clear or (fi in owner and rival_t[owner[fi]])
                            for fi, f in enumerate(faces)], bool)
        seen: list[Track] = []
        for fi, ti in owner.items():
            t = self.tracks[ti]
            others = max(np.delete(fit[ti] * rival_f, fi).max(initial=0.0),
                         np.delete(fit[:, fi] * rival_t, ti).max(initial=0.0))
            new = faces[fi].box
            t.ambiguous = bool(others >= self.rival * fit[ti, fi]) or self._overlapped(faces, fi, rival_f)
            t.expected = None if t.seeded else expected[ti]
            t.seeded = False
            t.missed = t.misses
            if t.misses == 0:
                gap = max(1, self.frame - t.last_seen)
                t.velocity = tuple((n - b) / gap for n, b in zip(new, t.box))  # type: ignore[assignment]
            t.previous, t.box, t.face, t.misses, t.last_seen = t.box, new, faces[fi], 0, self.frame
            t.score = faces[fi].score
            t.hits += 1
            seen.append(t)
        held: list[Track] = []
        survivors: list[Track] = []
        for ti, t in enumerate(self.tracks):
            if ti in owner.values():
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
            if fi not in owner:
                t = Track(self._next_id, f.box, face=f, born=self.frame, last_seen=self.frame, score=f.score,
                          ambiguous=self._overlapped(faces, fi, rival_f))
                self._next_id += 1
                seen.append(t)
                survivors.append(t)
        self.tracks = survivors
        return seen, held

    def _overlapped(self, faces: list[Face], fi: int, rival: np.ndarray) -> bool:
        box = faces[fi].box
        # Faces of unlike sizes are never taken for each other, however they overlap.
        return any(j != fi and rival[j] and similar_size(box, f.box) and overlap_of_smaller(box, f.box) >= self.overlap
                   for j, f in enumerate(faces))
