"""The stronger detection stage for photos, where a second or so is affordable and a miss is forever.

Passes, merged into one list of faces:
- YuNet on the upright photo (as for video);
- YuNet on the photo turned 90 and 270 degrees: YuNet finds faces tilted up to ~30 degrees, so these
  three cover tilts up to 120 degrees either way, heads tilted back and sideways photos included
  (180, for faces upside down, is an option: CenterFace finds most of those);
- CenterFace upright: it finds heads turned mostly away, faces cut by the border and faces in
  profile that YuNet misses, and it is robust to tilt on its own;
- for a photo larger than the analysis size, YuNet once more at ``fine_size``: faces a few dozen
  pixels high in a 12 MP crowd photo shrink below what YuNet sees at 1280 px. One pass over the
  whole larger copy is what tiles of it would compute, without seams cutting faces;
- for a small photo (``upscale_below``), CenterFace once more on a copy twice the size: 14-16 px
  faces are below the size it was trained to find (hard-face set, small: 41/43 -> 43/43).

Where passes find the same face (boxes whose intersection over union is ``same_face`` or more), YuNet's
best-scored box of it is kept, with its landmarks (what recognition is tuned on); CenterFace adds the
faces no YuNet pass found.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

import cv2
import numpy as np

from .centerface import CenterFace
from .detect import YuNet, shrink
from .face import Face
from .track import iou
from .runtime import Runtime

_TURNS = {90: cv2.ROTATE_90_COUNTERCLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_CLOCKWISE}


@dataclass(frozen=True)
class PhotoPasses:
    """Which passes run, and at what size (set from ``EngineConfig``, where each is explained)."""

    turns: tuple[int, ...]  # counter-clockwise degrees, multiples of 90
    turn_threshold: float
    second: bool  # CenterFace
    fine_size: int  # 0: no fine pass
    upscale_below: int  # 0: no upscaled CenterFace pass
    same_face: float


def _unturn(points: np.ndarray, turn: int, w: int, h: int) -> np.ndarray:
    """Points found in the photo turned ``turn`` degrees counter-clockwise, back in the photo (w x h)."""
    x, y = points[..., 0], points[..., 1]
    if turn == 90:  # turned image is h wide, w high; (x', y') = (y, w - x)
        return np.stack([w - y, x], -1)
    if turn == 180:
        return np.stack([w - x, h - y], -1)
    return np.stack([y, h - x], -1)  # 270: (x', y') = (h - y, x)


def turned_back(face: Face, turn: int, w: int, h: int) -> Face:
    x1, y1, x2, y2 = face.box
    corners = _unturn(np.array([[x1, y1], [x2, y2]], np.float32), turn, w, h)
    lo, hi = corners.min(0), corners.max(0)
    marks = _unturn(face.landmarks, turn, w, h).astype(np.float32)
    return Face((float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])), face.score, marks)


def merge(groups: list[list[Face]], same: float) -> list[Face]:
    """Each face once. Within a group, the best-scored of overlapping faces is kept; a later group
    only adds faces no earlier one found."""
    kept: list[Face] = []
    for faces in groups:
        for f in sorted(faces, key=lambda f: -f.score):
            if all(iou(f.box, k.box) < same for k in kept):
                kept.append(f)
    return kept


class PhotoDetector:
    """The photo stage behind the ``Detector`` interface, around the engine's own YuNet."""

    def __init__(self, yunet: YuNet, centerface: CenterFace | None, passes: PhotoPasses):
        self.yunet = yunet
        self.centerface = centerface
        self.passes = passes

    def detect(self, frame: np.ndarray, analysis_size: int | None = None) -> list[Face]:
        size = analysis_size or self.yunet.analysis_size
        h, w = frame.shape[:2]
        # Large photos are shrunk in two bilinear steps through the fine pass's copy: one INTER_AREA
        # step from 12 MP to 1280 px costs 24 ms, these two 6 ms.
        fine = shrink(frame, self.passes.fine_size) if self.passes.fine_size and max(h, w) > size else None
        copy = shrink(fine if fine is not None else frame, size)
        ch, cw = copy.shape[:2]
        yunet = self.yunet.detect(copy)
        for turn in self.passes.turns:
            turned = cv2.rotate(copy, _TURNS[turn])
            yunet += [turned_back(f, turn, cw, ch) for f in self.yunet.detect(turned)
                      if f.score >= self.passes.turn_threshold]
        second: list[Face] = []
        if self.centerface is not None and self.passes.second:
            second = self.centerface.detect(copy, max(ch, cw))
            if max(ch, cw) <= self.passes.upscale_below:
                double = cv2.resize(copy, (cw * 2, ch * 2), interpolation=cv2.INTER_LINEAR)
                second += [_rescaled(f, 0.5, cw, ch) for f in self.centerface.detect(double, 2 * max(ch, cw))]
        yunet, second = ([_rescaled(f, w / cw, w, h) for f in faces] for faces in (yunet, second))
        if fine is not None:
            yunet += [_rescaled(f, w / fine.shape[1], w, h) for f in self.yunet.detect(fine, max(fine.shape[:2]))]
        return merge([yunet, second], self.passes.same_face)


def _rescaled(face: Face, k: float, w: int, h: int) -> Face:
    if abs(k - 1.0) < 1e-9:
        return face
    x1, y1, x2, y2 = face.box
    box = (max(0.0, x1 * k), max(0.0, y1 * k), min(float(w), x2 * k), min(float(h), y2 * k))
    return Face(box, face.score, (face.landmarks * k).astype(np.float32))


_stages: "weakref.WeakKeyDictionary[YuNet, tuple[PhotoPasses, float, PhotoDetector]]" = weakref.WeakKeyDictionary()
_seconds: dict[tuple, CenterFace] = {}
_cache_lock = threading.RLock()


def centerface_for(threshold: float, analysis_size: int, threads: int, runtime: Runtime) -> CenterFace:
    """The CenterFace beside a YuNet built with these settings, loaded once a process (engines made per
    request share it, and it takes ~0.5 s to load): the photo stage's second pass and the judge's
    second look. On onnxruntime where the engine asks for it, else AUTO: where OpenVINO cannot compile
    CenterFace's float model, it runs on onnxruntime (``runtime.load``)."""
    runtime = Runtime.ONNXRUNTIME if runtime is Runtime.ONNXRUNTIME else Runtime.AUTO
    key = (threshold, analysis_size, threads, runtime)
    with _cache_lock:
        if key not in _seconds:
            _seconds[key] = CenterFace(threshold, analysis_size, threads=threads, runtime=runtime)
        return _seconds[key]


def for_photos(detector, passes: PhotoPasses, second_threshold: float, runtime: Runtime):
    """The photo stage around ``detector`` when it is the engine's YuNet (built once per YuNet; its
    CenterFace on ``runtime``, the engine's setting); any other detector as it is."""
    if not isinstance(detector, YuNet):
        return detector
    with _cache_lock:
        hit = _stages.get(detector)
        if hit is None or hit[:2] != (passes, second_threshold):
            centerface = centerface_for(second_threshold, detector.analysis_size, detector.threads,
                                        runtime) if passes.second else None
            hit = (passes, second_threshold, PhotoDetector(detector, centerface, passes))
            _stages[detector] = hit
        return hit[2]
