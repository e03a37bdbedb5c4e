"""The engine: detect, track, recognise, decide, redact.

Fail-safe throughout: a face is left visible only when it is confidently
recognised as a registered person; anything unknown, too small or uncertain is
redacted. ``analyse_photo`` judges one image on its own; ``Stream`` judges a
sequence of frames and requires agreement over several frames before it shows
anyone.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .detect import Detector, YuNet
from .face import Decision, Face, Match
from .match import DEFAULT_THRESHOLD, MIN_RECOGNISABLE, MIN_RECOGNITION_SCORE, Gallery
from .recognise import SFace
from .redact import Style, redact_region
from .track import Tracker, grow, iou


@dataclass(frozen=True)
class EngineConfig:
    detect_threshold: float = 0.4
    analysis_size: int = 1280  # longest side the detector sees; larger frames are downscaled
    match_threshold: float = DEFAULT_THRESHOLD
    min_recognisable: float = MIN_RECOGNISABLE
    min_recognition_score: float = MIN_RECOGNITION_SCORE
    everyone: bool = False  # ignore the registry: redact every face
    style: Style = Style.BLUR
    shape: str = "ellipse"
    # Streams only:
    confirm_frames: int = 3  # recognitions in a row before a registered face is shown
    hold_frames: int = 8  # frames a missed face stays redacted at its last place
    # Re-run recognition on an unknown face after this many frames, doubling after each attempt
    # that matches no one, up to ``recheck_unknown_max``.
    recheck_unknown: int = 3
    recheck_unknown_max: int = 15
    # A confirmed registered face is re-verified every frame while anything could have swapped it
    # for someone else (a jump, a miss, another face near it); once calm for ``calm_frames``
    # detections, every ``reverify_every`` frames.
    reverify_every: int = 5
    calm_frames: int = 5
    threads: int = 2  # onnxruntime threads for detection: a 720p frame takes 15 ms on two, 25 on one
    downscaled_threshold: float | None = None  # detection threshold for frames larger than analysis_size


class Engine:
    """Holds the models and the registry snapshot; cheap to call, costly to build."""

    def __init__(self, gallery: Gallery | None = None, config: EngineConfig = EngineConfig(),
                 detector: Detector | None = None, recogniser: SFace | None = None):
        self.config = config
        self.gallery = gallery or Gallery.empty()
        self.detector = detector or YuNet(config.detect_threshold, config.analysis_size, threads=config.threads,
                                          downscaled_threshold=config.downscaled_threshold)
        self._recogniser = recogniser

    @property
    def recognising(self) -> bool:
        return not self.config.everyone and len(self.gallery) > 0

    @property
    def recogniser(self) -> SFace:
        if self._recogniser is None:
            self._recogniser = SFace()
        return self._recogniser

    def with_config(self, **changes) -> "Engine":
        """The same models under other settings (the detector is rebuilt only if its settings change)."""
        config = replace(self.config, **changes)
        knobs = ("detect_threshold", "analysis_size", "threads", "downscaled_threshold")
        same_detector = all(getattr(config, k) == getattr(self.config, k) for k in knobs)
        return Engine(self.gallery, config, self.detector if same_detector else None, self._recogniser)

    def detect(self, frame: np.ndarray, analysis_size: int | None = None) -> list[Face]:
        return self.detector.detect(frame, analysis_size)

    def unrecognisable(self, face: Face) -> str | None:
        """Why ``face`` cannot be recognised ("too-small", "faint"), or None if it can."""
        if face.size < self.config.min_recognisable:
            return "too-small"
        if face.score < self.config.min_recognition_score:
            return "faint"
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

    def analyse_photo(self, frame: np.ndarray) -> list[Decision]:
        faces = self.detect(frame)
        if not self.recognising:
            reason = "everyone" if self.config.everyone else "unknown"
            return [Decision(f, None, None, None, True, reason) for f in faces]
        decisions = []
        for f, m in zip(faces, self.recognise(frame, faces)):
            if why := self.unrecognisable(f):
                decisions.append(Decision(f, None, None, None, True, why))
            elif m.person is None:
                decisions.append(Decision(f, None, None, m.similarity, True, "unknown"))
            else:
                decisions.append(Decision(f, None, m.person, m.similarity, False, "registered"))
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
            redact_region(frame, box, self.config.style, self.config.shape)
        for (x1, y1, x2, y2), pixels in saved:
            restore = np.ones((y2 - y1, x2 - x1), bool)
            for b in boxes:
                overlap = _pixels(b, (x1, y1, x2, y2))
                if overlap:
                    bx1, by1, bx2, by2 = overlap
                    restore[by1 - y1:by2 - y1, bx1 - x1:bx2 - x1] = False
            frame[y1:y2, x1:x2][restore] = pixels[restore]
        return frame

    def redact_decisions(self, frame: np.ndarray, decisions, extra_guesses=()) -> np.ndarray:
        """Redact a frame as ``decisions`` say (plus ``extra_guesses``), registered faces kept clear."""
        return self.redact(
            frame,
            [d.face.box for d in decisions if d.redact and not d.guessed],
            keep=[d.face.box for d in decisions if not d.redact],
            guesses=[*(d.face.box for d in decisions if d.guessed), *extra_guesses],
        )

    def stream(self) -> "Stream":
        return Stream(self)


class Stream:
    """Frame-by-frame analysis with tracking. One per video or live stream."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.tracker = Tracker(hold=engine.config.hold_frames)

    @property
    def frame_index(self) -> int:
        return self.tracker.frame

    def coast(self, grow_by: float = 0.15) -> list[Decision]:
        """Decisions for a frame the detector skips (live mode, under load): every track is
        carried to where its motion predicts, grown a little, and judged as at its last detection.
        Predicted boxes are redacted like detected ones: they never yield to a registered face."""
        self.tracker.skip()
        now = self.tracker.frame
        decisions = []
        for t in self.tracker.tracks:
            if t.misses:
                decisions.append(Decision(_ghost(t.box), t.id, None, None, True, "held"))
                continue
            box = grow(t.predicted(now), grow_by)
            face = Face(box, t.face.score if t.face else 0.0, np.zeros((5, 2), np.float32))
            if self.engine.recognising and t.candidate is not None and t.streak >= self.engine.config.confirm_frames:
                decisions.append(Decision(face, t.id, t.candidate, t.similarity, False, "registered"))
            else:
                decisions.append(Decision(face, t.id, None, t.similarity, True, "predicted"))
        return decisions

    def _due(self, t) -> bool:
        """Whether track ``t`` (detected now) is recognised on this frame. Unknown faces are checked
        now and then, since they stay redacted meanwhile anyway; candidates every frame until
        confirmed; confirmed faces as ``EngineConfig.reverify_every`` says."""
        cfg = self.engine.config
        if t.candidate is None:
            wait = cfg.recheck_unknown << max(0, min(t.unmatched - 1, 8))
            return t.since_recognised >= min(wait, cfg.recheck_unknown_max)
        if t.streak < cfg.confirm_frames or t.since_recognised >= cfg.reverify_every or t.calm < cfg.calm_frames:
            return True
        near = grow(t.box, 1.0)
        return any(o is not t and iou(near, o.box) > 0 for o in self.tracker.tracks)

    def analyse(self, frame: np.ndarray, analysis_size: int | None = None) -> list[Decision]:
        """Decisions for the next frame; ``analysis_size`` overrides the detector's for this frame."""
        eng, cfg = self.engine, self.engine.config
        faces = eng.detect(frame, analysis_size)
        seen, held = self.tracker.update(faces)
        for t in seen:
            t.since_recognised += 1
        decisions: list[Decision] = []
        if eng.recognising:
            due = [t for t in seen if eng.unrecognisable(t.face) is None and self._due(t)]
            for t, m in zip(due, eng.recognise(frame, [t.face for t in due])):
                t.since_recognised = 0
                t.similarity = m.similarity
                t.unmatched = 0 if m.person is not None else t.unmatched + 1
                if m.person is not None and m.person == t.candidate:
                    t.streak += 1
                elif m.person is not None:
                    t.candidate, t.streak = m.person, 1
                else:
                    t.candidate, t.streak = None, 0
        for t in seen:
            f = t.face
            if not eng.recognising:
                decisions.append(Decision(f, t.id, None, None, True, "everyone" if cfg.everyone else "unknown"))
            elif why := eng.unrecognisable(f):
                t.candidate, t.streak = None, 0
                decisions.append(Decision(f, t.id, None, None, True, why))
            elif t.candidate is not None and t.streak >= cfg.confirm_frames:
                decisions.append(Decision(f, t.id, t.candidate, t.similarity, False, "registered"))
            elif t.candidate is not None:
                decisions.append(Decision(f, t.id, None, t.similarity, True, "unconfirmed"))
            else:
                decisions.append(Decision(f, t.id, None, t.similarity, True, "unknown"))
        for t in held:
            decisions.append(Decision(_ghost(t.box), t.id, None, None, True, "held"))
        # A redacted face that moved a lot, or was matched loosely, is also covered where it was:
        # if the match was wrong, the face is still there.
        redacted = {d.track_id for d in decisions if d.redact}
        for t in seen:
            if t.id in redacted and t.previous is not None and iou(t.previous, t.box) < 0.5:
                decisions.append(Decision(_ghost(t.previous), t.id, None, None, True, "trail"))
        return decisions


def _pixels(box, bounds) -> tuple[int, int, int, int] | None:
    """The whole pixels ``box`` touches within ``bounds`` (x1, y1, x2, y2), or None if it misses them."""
    x1, y1 = max(bounds[0], int(np.floor(box[0]))), max(bounds[1], int(np.floor(box[1])))
    x2, y2 = min(bounds[2], int(np.ceil(box[2]))), min(bounds[3], int(np.ceil(box[3])))
    return (x1, y1, x2, y2) if x2 > x1 and y2 > y1 else None


def _ghost(box) -> Face:
    """A place to redact where no face was detected this frame."""
    return Face(box, 0.0, np.zeros((5, 2), np.float32))
