"""A second detector for sequences, where YuNet is weakest.

CenterFace finds profiles, tilted faces and faces cut by the border that YuNet misses (the hard-face
set), at several times YuNet's cost. The judge runs it where it pays (``Judge._look_again``):

- a *sweep* of the whole frame on a reduced copy, every few detections and on every new shot: a face
  it finds is covered from then on by its track, and back to where it came into view by the judge's
  backfill;
- *around* each clear face YuNet lost on this frame, at full resolution: a face turning to profile
  keeps its track, and with it its identity.
"""

from __future__ import annotations

import numpy as np

from .centerface import CenterFace
from .face import Face
from .track import grow, overlap_of_smaller

_REGION = 2.0  # around a lost face: its box grown by this factor on each side's share
_MIN_REGION = 64  # pixels: CenterFace sees too little context in a smaller crop


def sweep(detector: CenterFace, frame: np.ndarray, size: int, threshold: float) -> list[Face]:
    """Faces in the whole of ``frame``, looked at with its longest side at most ``size``."""
    return [f for f in detector.detect(frame, min(size, max(frame.shape[:2]))) if f.score >= threshold]


def around(detector: CenterFace, frame: np.ndarray, boxes: list[tuple], threshold: float) -> list[Face]:
    """Faces near each of ``boxes`` (where a face was expected), at the frame's own resolution."""
    h, w = frame.shape[:2]
    found: list[Face] = []
    for box in boxes:
        x1, y1, x2, y2 = grow(box, _REGION)
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        half = max(x2 - x1, y2 - y1, _MIN_REGION) / 2
        left, top = max(0, int(cx - half)), max(0, int(cy - half))
        right, bottom = min(w, int(np.ceil(cx + half))), min(h, int(np.ceil(cy + half)))
        if right - left < 8 or bottom - top < 8:
            continue
        crop = frame[top:bottom, left:right]
        for f in detector.detect(crop, max(crop.shape[:2])):
            if f.score >= threshold:
                bx1, by1, bx2, by2 = f.box
                found.append(Face((bx1 + left, by1 + top, bx2 + left, by2 + top), f.score,
                                  (f.landmarks + np.array([left, top], np.float32)).astype(np.float32)))
    return found


def added(faces: list[Face], found: list[Face], same: float) -> list[Face]:
    """``faces`` as they are, and those of ``found`` that overlap none of them (by ``same`` of the
    smaller), the best-scored first where found ones overlap each other."""
    kept = list(faces)
    for f in sorted(found, key=lambda f: -f.score):
        if all(overlap_of_smaller(f.box, k.box) < same for k in kept):
            kept.append(f)
    return kept
