"""The look-ahead judge: frames in, each frame's decisions out a bounded number of frames later.

Files and live streams both feed it. Holding ``window`` frames back hands the judge the near
future of every frame it decides:

- a face found on a later frame is also covered on the frames before, back to where it came into
  view (``EngineConfig.backfill_frames``, never across a shot cut);
- frames the detector skipped get each face placed between its detections before and after
  (interpolated, never only extrapolated); a skipped frame no detection follows in time is
  redacted whole;
- identity belongs to a stretch of a track (a *segment*) and comes from the evidence gathered on
  it: once ``confirm_matches`` recognitions agree on a registered person, the whole segment is
  shown, including its frames before confirmation that are still in the window.

A segment ends where the track's identity can no longer be carried: a shot cut, a jump, an
association the tracker found ambiguous (a rival fitting nearly as well, faces overlapping), the
face lost for more than a short miss, or a confident non-match on a clear, frontal view (then the
frames since its last match are redacted too). Closeness to other faces ends nothing; it makes the
face checked more often. What comes after must earn its identity afresh, so a bystander never
inherits one. Anything else is redacted.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Iterator

import numpy as np

from . import second_look
from .cut import is_cut, thumbnail
from .face import Decision, Face, Match, Reason
from .pipeline import Engine
from .track import TRACKING_REACH, Track, Tracker, centre_distance, close, grow, iou, similar_size

_NO_LANDMARKS = np.zeros((5, 2), np.float32)
_OPEN = 10**12  # a segment not (yet) withdrawn
# How far, in face sizes (the larger side of the larger face), a face lost on a detection may have
# moved to be taken for a new one found on it (``Judge._bridge``): tracking's own reach, and this
# much more for each frame between: a woman crossing near the camera moved a quarter of her face's
# size a frame. Never over more frames than a new face is backfilled.
BRIDGE_REACH = 0.3


class Mode(Enum):
    DETECT = "detect"  # run the detector on this frame
    SKIP = "skip"  # place faces between the detections around it
    BLANK = "blank"  # redact the whole frame (live: it came too late to be judged)


@dataclass
class Segment:
    """A stretch of one track over which its identity is carried."""

    start: int
    person: str | None = None
    matches: int = 0
    last_match: int = -1
    shown_until: int = _OPEN  # after a withdrawal: the last frame still shown
    # The latest clear non-match (even turned away) before the segment was confirmed: the frames up
    # to it are never shown (the track may have followed someone else then, behind or past him).
    doubted: int = -1
    pooled: np.ndarray | None = field(default=None, repr=False)  # sum of its recognitions' embeddings
    views: int = 0  # recognitions pooled
    pooled_person: str | None = None  # whom the pooled embedding matches

    def confirmed(self, needed: int) -> bool:
        """Enough matching recognitions, or one and the pooled views of the segment agreeing."""
        return self.person is not None and (self.matches >= needed or self.pooled_person == self.person)

    def pool(self, embedding: np.ndarray | None) -> None:
        if embedding is not None:
            self.pooled = embedding.copy() if self.pooled is None else self.pooled + embedding
            self.views += 1

    def resumed(self, start: int, needed: int) -> "Segment":
        """The segment after a short miss: the same person, one match short of being shown again."""
        return Segment(start, self.person, min(self.matches, needed - 1) if self.person else 0)


@dataclass
class _Seen:
    """One face in one frame of the window."""

    track: int
    face: Face
    reason: Reason  # what it is when not shown
    segment: Segment | None = None  # shown if this segment is confirmed and not withdrawn here
    similarity: float | None = None
    near: bool = False  # another clear face close by: recognised more often


@dataclass
class _Slot:
    index: int
    image: np.ndarray
    payload: Any
    mode: Mode
    cut: bool = False
    seen: list[_Seen] = field(default_factory=list)


@dataclass
class _TrackState:
    segment: Segment | None = None
    last_detected: int = -1  # frame index of the latest detection
    since_recognised: int = 10**9
    unmatched: int = 0  # recognitions in a row that were clear non-matches
    clear: bool = False  # detected clearly at least once (else perhaps a hand, a pattern)
    person: str | None = None  # the registered person it last matched, whatever its segment now
    detections: int = 0
    first: tuple[int, tuple] = (0, ())  # its first detection: frame index and box
    backfilled: int = 0  # frames before the first detection covered so far


@dataclass
class Spent:
    """What the latest detection cost, for a caller that fits the work to the machine."""

    seconds: float = 0.0  # the whole push that detected
    recognise: float = 0.0  # of which recognition
    recognised: int = 0  # faces recognised
    due: int = 0  # faces due for recognition, before the deadline

    @property
    def detect(self) -> float:
        """The push without its recognitions: what the detection itself cost."""
        return self.seconds - self.recognise


@dataclass
class Judged:
    """A frame whose decisions are final. ``decisions`` None: redact the whole frame."""

    index: int
    image: np.ndarray
    payload: Any
    decisions: list[Decision] | None
    cut: bool = False


def frontal(face: Face, limit: float) -> bool:
    """Whether the nose sits between the eyes, within ``limit`` eye distances: a frontal view,
    where a failed match says something. Turned faces match poorly even when they are the person."""
    lm = face.landmarks
    eyes = lm[1] - lm[0]
    dist = float(np.hypot(*eyes))
    if dist < 1e-3:
        return False
    mid = (lm[0] + lm[1]) / 2
    # The nose's offset along the eye line, so that a tilted head is not taken for a turned one.
    offset = float(np.dot(lm[2] - mid, eyes)) / dist
    return abs(offset) / dist <= limit


class Judge:
    """One per video or live stream. ``window`` frames are held back (0: frame by frame)."""

    def __init__(self, engine: Engine, window: int, detect_every: int = 1):
        self.engine = engine
        self.config = engine.config
        self.window = window
        self.detect_every = max(1, detect_every) if window else 1
        self.tracker = Tracker(self.config.hold_frames, rival=self.config.rival, overlap=self.config.overlap,
                               clear=self.config.min_recognition_score, lasting=self.config.faint_lasting)
        # When recognitions must end (``time.monotonic()``; None: every face due is recognised). Live
        # sets it from its schedule; recognitions past it wait for a later detection, in priority
        # order, except a registered person's and, with ``recognise_first``, the first face due: each
        # detection then moves one identity on, however long it took itself (a stream's start on one
        # slow core recognised nobody for a second).
        self.recognise_until: float | None = None
        self.recognise_first = True
        self._face_seconds = 0.0  # what one recognition costs, a running mean
        self.spent = Spent()
        self._slots: deque[_Slot] = deque()
        self._tracks: dict[int, _TrackState] = {}
        self._count = 0
        self._since_detect = 10**9
        self._last_thumb: np.ndarray | None = None
        self._shot_start = 0
        self._latest_detection = -1  # index of the latest frame detected
        self._arriving: _Slot | None = None  # the frame being pushed, until it is held
        # The second look (``_look_again``); live turns it off.
        self.look_again = True
        self._since_sweep = 10**9  # detections since the last sweep

    # Feeding ------------------------------------------------------------------------------------
    def push(self, image: np.ndarray, payload: Any = None, mode: Mode | None = None,
             analysis_size: int | None = None) -> Iterator[Judged]:
        """Take the next frame; yield the frames that are now final, oldest first. ``mode`` None
        lets the judge choose (detection on every ``detect_every``-th frame and on every cut)."""
        index = self._count
        self._count += 1
        self._arriving = _Slot(index, image, payload, Mode.BLANK)
        thumb = thumbnail(image)
        cut = self._last_thumb is None or is_cut(thumb, self._last_thumb)
        self._last_thumb = thumb
        if mode is None:
            mode = Mode.DETECT if cut or self._since_detect + 1 >= self.detect_every else Mode.SKIP
        if mode is Mode.SKIP and cut:
            # A new shot is always detected afresh; frame by frame, the caller skipped it for want
            # of time, and tracks from the last shot say nothing about this one: redacted whole.
            mode = Mode.DETECT if self.window else Mode.BLANK
        slot = _Slot(index, image, payload, mode, cut)
        if cut:
            self._close_shot()
            self._new_shot(index)
        self._slots.append(slot)
        self._arriving = None
        if mode is Mode.DETECT:
            started = time.perf_counter()
            self.spent = Spent()
            self._detect(slot, analysis_size)
            self.spent.seconds = time.perf_counter() - started
            self._since_detect = 0
        else:
            self.tracker.skip()
            self._since_detect += 1
            if mode is Mode.BLANK:
                self._since_detect = 10**9  # tracks are stale after a blanked frame: detect next
        while len(self._slots) > self.window:
            yield self._final(self._slots.popleft())

    def flush(self) -> Iterator[Judged]:
        """The end: the last frames, a trailing skipped frame detected so that none is left unjudged."""
        self._close_shot()
        while self._slots:
            yield self._final(self._slots.popleft())

    def abandon(self) -> Iterator[Judged]:
        """Give up on the frames held (the engine failed), and on the one it failed on before holding
        it: each goes out redacted whole."""
        if self._arriving is not None:
            self._slots.append(self._arriving)
            self._arriving = None
        while self._slots:
            slot = self._slots.popleft()
            yield Judged(slot.index, slot.image, slot.payload, None, slot.cut)

    # Analysis -----------------------------------------------------------------------------------
    def _close_shot(self) -> None:
        """A shot ends (a cut, the end): its trailing skipped frame is detected, so that the frames
        skipped before it are placed between detections of their own shot."""
        if self._slots and self._slots[-1].mode is Mode.SKIP:
            self._slots[-1].mode = Mode.DETECT
            self._detect(self._slots[-1], None, index=self._slots[-1].index)

    def _new_shot(self, index: int) -> None:
        self._tracks.clear()
        self.tracker.reset()
        self._shot_start = index

    def _state(self, t: Track) -> _TrackState:
        return self._tracks.setdefault(t.id, _TrackState())

    def _detect(self, slot: _Slot, analysis_size: int | None, index: int | None = None) -> None:
        eng, cfg = self.engine, self.config
        faces = self._look_again(slot, eng.detect(slot.image, analysis_size), index)
        seen, held = self.tracker.update(faces, index)
        alive = {t.id for t in self.tracker.tracks}
        for gone in [k for k in self._tracks if k not in alive]:
            del self._tracks[gone]
        clear = [t for t in seen if t.face.score >= cfg.min_recognition_score]
        for t in seen:
            state = self._state(t)
            near = any(o is not t and _near(t.box, o.box, cfg.near) for o in clear)
            jumped = t.expected is not None and iou(t.expected, t.box) < cfg.jump_iou
            # Identity goes on only where the association had no rival, did not jump and did not
            # lose the face for longer than a short miss.
            carried = not (t.ambiguous or jumped or t.missed > cfg.carry_misses)
            if not carried:
                state.segment = None
            elif t.missed and state.segment is not None:
                state.segment = state.segment.resumed(state.last_detected + 1, cfg.confirm_matches)
                state.since_recognised = 10**9  # a face found again is checked at once
            if state.last_detected >= 0:
                self._fill_between(t, state, slot.index, carried)
            else:
                state.first = (slot.index, t.box)
            state.clear |= t.face.score >= cfg.min_recognition_score
            state.detections += 1
            # A face is covered back to where it came into view; a faint one (perhaps a hand or a
            # pattern) only a little, until it turns out clear or lasting, but at least over the
            # frames skipped since the detection before, which never looked for it.
            unseen = min(cfg.backfill_frames, slot.index - self._latest_detection - 1) if state.detections == 1 else 0
            backfill = cfg.backfill_frames if state.clear or state.detections >= cfg.faint_lasting \
                else max(cfg.faint_hold_frames, unseen)
            if backfill > state.backfilled:
                self._backfill(t.id, state, state.backfilled, backfill)
                state.backfilled = backfill
            if t.previous is not None and not t.missed and iou(t.previous, t.box) < 0.5:
                # Moved a lot between two detections: if this was the wrong face to follow, the face
                # it left is still there. (After a miss, the frames between are covered already.)
                slot.seen.append(_Seen(t.id, _place(t.previous), Reason.TRAIL))
            if state.segment is None and not t.ambiguous:
                state.segment = Segment(slot.index)
            state.last_detected = slot.index
            state.since_recognised += 1
            if t.ambiguous:
                state.since_recognised = 10**9  # checked first once the faces are apart again
            why = Reason.CROSSING if t.ambiguous else (eng.unrecognisable(t.face) or Reason.UNCONFIRMED)
            slot.seen.append(_Seen(t.id, t.face, why, state.segment, near=near))
        self._bridge([t for t in seen if self._tracks[t.id].detections == 1], held)
        for t in held:
            state = self._tracks.get(t.id)
            if t.misses <= (cfg.hold_frames if state and state.clear else cfg.faint_hold_frames):
                # On this frame and those skipped since the detection before: it was there, somewhere,
                # where it stopped or, just lost, on its way (a walker leaving the picture, or going
                # behind someone).
                for earlier in [*(s for s in self._slots if s.mode is Mode.SKIP and s.index > self._latest_detection),
                                slot]:
                    earlier.seen.append(_Seen(t.id, _place(_held(t, earlier.index)), Reason.HELD))
        self._latest_detection = slot.index
        if eng.recognising:
            self._recognise(slot, [s for s in slot.seen if s.segment is not None and s.reason is Reason.UNCONFIRMED])
        else:
            for s in slot.seen:
                if s.reason in (Reason.UNCONFIRMED, Reason.TOO_SMALL, Reason.FAINT, Reason.CROSSING):
                    s.reason = Reason.EVERYONE if self.config.everyone else Reason.UNKNOWN

    def _bridge(self, born: list[Track], held: list[Track]) -> None:
        """A face that moved further between two detections than tracking follows (a fast walker,
        detected every few frames) ends one track and starts another, and the frames between would
        show it on its way from the one place to the other. Each new face is joined to the nearest
        face of its size that this detection lost, if within ``BRIDGE_REACH`` of its size per frame
        between them; on the frames skipped between, a place along the way is covered, and the new
        track moves on as the way says. Neither identity is carried across."""
        lost = []
        for t in held:
            state = self._tracks.get(t.id)
            before = self._detected_box(t.id, state.last_detected) if t.misses == 1 and state else None
            if before is not None:
                lost.append((state.last_detected, before))
        for t in born:
            index, box = self._tracks[t.id].first
            near = [k for k, (last, before) in enumerate(lost)
                    if 1 < index - last <= self.config.backfill_frames and similar_size(box, before)
                    and close(before, box, TRACKING_REACH + BRIDGE_REACH * (index - last))]
            if not near:
                continue
            last, before = lost.pop(min(near, key=lambda k: centre_distance(lost[k][1], box)))
            # The way it came says where it goes on: it is held along that way when it is lost next.
            t.seed(tuple((b1 - b0) / (index - last) for b0, b1 in zip(before, box)))
            for slot in self._slots:
                a = (slot.index - last) / (index - last)
                if 0 < a < 1 and slot.mode is Mode.SKIP:
                    slot.seen.append(_Seen(t.id, _between(before, box, a), Reason.TRAIL))

    def _detected_box(self, track: int, index: int) -> tuple | None:
        """Where ``track`` was detected on frame ``index`` (not where it was held or trailed)."""
        return next((s.face.box for slot in self._slots if slot.index == index
                     for s in slot.seen if s.track == track and s.reason not in (Reason.HELD, Reason.TRAIL)), None)

    def _look_again(self, slot: _Slot, faces: list[Face], index: int | None) -> list[Face]:
        """YuNet's faces on ``slot`` and what CenterFace adds: a sweep every ``second_every``
        detections and on a new shot, and a look around each clear face YuNet lost."""
        cfg = self.config
        second = self.engine.second_detector if self.look_again else None
        if second is None:
            return faces
        self._since_sweep += 1
        found = []
        if cfg.second_every and (slot.cut or self._since_sweep >= cfg.second_every):
            self._since_sweep = 0
            found = second_look.sweep(second, slot.image, cfg.second_size, cfg.second_threshold)
        if cfg.second_around_lost:
            lost = [expected for t, expected in self.tracker.unfound(faces, index, cfg.carry_misses)
                    if (state := self._tracks.get(t.id)) is not None and state.clear]
            found += second_look.around(second, slot.image, lost, cfg.second_threshold)
        return second_look.added(faces, found, cfg.second_same_face) if found else faces

    def _due(self, state: _TrackState, near: bool) -> bool:
        cfg = self.config
        seg = state.segment
        if seg is not None and seg.confirmed(cfg.confirm_matches):
            return state.since_recognised >= (cfg.reverify_near if near else cfg.reverify_every)
        if state.unmatched == 0:
            return True
        if near:  # beside another face a track may have changed hands unseen: no long waits
            return state.since_recognised >= cfg.recheck_unknown
        wait = cfg.recheck_unknown << max(0, min(state.unmatched - 1, 8))
        return state.since_recognised >= min(wait, cfg.recheck_unknown_max)

    def _priority(self, s: _Seen) -> tuple[int, int]:
        """Recognition order when the deadline cannot take every face due: first the tracks that are
        or were someone registered, then faces that may be (never recognised, or last seen neither a
        match nor a clear non-match, or new since an ambiguity), then faces near others, then the rest;
        the longest unchecked first within each."""
        state = self._tracks[s.track]
        if state.person is not None:
            tier = 0
        elif state.unmatched == 0 or state.since_recognised >= 10**8:
            tier = 1
        elif s.near:
            tier = 2
        else:
            tier = 3
        return tier, -state.since_recognised

    def _recognise(self, slot: _Slot, candidates: list[_Seen]) -> None:
        due = sorted((s for s in candidates if self._due(self._tracks[s.track], s.near)), key=self._priority)
        self.spent.due += len(due)
        for k, s in enumerate(due):
            registered = self._tracks[s.track].person is not None
            if not (registered or (k == 0 and self.recognise_first)) and \
                    self._past_deadline(self._face_seconds if k else 0.0):
                break
            started = time.monotonic()
            (m,) = self.engine.recognise(slot.image, [s.face])
            took = time.monotonic() - started
            self._face_seconds = took if not self._face_seconds else 0.8 * self._face_seconds + 0.2 * took
            self.spent.recognise += took
            self.spent.recognised += 1
            self._recognised(slot, s, m)

    def _past_deadline(self, ahead: float) -> bool:
        """Whether the deadline falls within ``ahead`` seconds from now."""
        return self.recognise_until is not None and time.monotonic() + ahead > self.recognise_until

    def _recognised(self, slot: _Slot, s: _Seen, m: Match) -> None:
        """What one recognition says about the track it was made on."""
        cfg = self.config
        state = self._tracks[s.track]
        state.since_recognised = 0
        s.similarity = m.similarity
        seg = state.segment
        if m.person is not None:
            state.unmatched = 0
            if seg.person not in (None, m.person):
                self._withdraw(seg, slot.index)
                seg = state.segment = s.segment = Segment(slot.index)
            seg.person = state.person = m.person
            seg.matches += 1
            seg.last_match = slot.index
            self._pool(seg, m.embedding)
            return
        # Only clear non-matches make the next check wait: a near miss is checked again soon.
        state.unmatched = state.unmatched + 1 if m.similarity < cfg.reject_below else 0
        if m.similarity < cfg.reject_below and not seg.confirmed(cfg.confirm_matches):
            seg.doubted = slot.index
        s.reason = Reason.UNKNOWN if seg.person is None else Reason.UNCONFIRMED
        # Beside other faces a weaker mismatch already counts against: a swap the motion did not
        # show would look like this.
        against = cfg.near_reject_below if s.near else cfg.reject_below
        if m.similarity < against and frontal(s.face, cfg.frontal_yaw):
            # Evidence against: whoever this is, the identity stops here, back to the last match.
            if seg.person is not None:
                self._withdraw(seg, slot.index)
            s.segment = None
            s.reason = Reason.UNKNOWN
            state.segment = Segment(slot.index + 1)
        else:
            self._pool(seg, m.embedding)

    def _pool(self, seg: Segment, embedding: np.ndarray | None) -> None:
        seg.pool(embedding)
        if seg.person is not None and seg.views >= self.config.pool_views and seg.pooled is not None:
            mean = seg.pooled / max(float(np.linalg.norm(seg.pooled)), 1e-12)
            seg.pooled_person = self.engine.gallery.match(mean[None], self.config.match_threshold)[0].person

    @staticmethod
    def _withdraw(seg: Segment, index: int) -> None:
        seg.shown_until = min(seg.shown_until, seg.last_match if seg.last_match >= 0 else seg.start - 1, index - 1)

    def _fill_between(self, t: Track, state: _TrackState, index: int, carried: bool) -> None:
        """Place the face on the frames between its previous detection and this one. Where its
        identity is carried, those frames carry its segment (nothing says it changed there, and a
        short miss is a blink of the detector); elsewhere they stay redacted, at the interpolated
        place instead of the held one."""
        before = self._detected_box(t.id, state.last_detected)
        if before is None:
            return
        span = index - state.last_detected
        for slot in self._slots:
            k = slot.index - state.last_detected
            if not 0 < k < span or slot.mode is Mode.BLANK:
                continue
            box = _between(before, t.box, k / span)
            slot.seen = [s for s in slot.seen if not (s.track == t.id and s.reason is Reason.HELD)]
            if carried:
                slot.seen.append(_Seen(t.id, box, Reason.INTERPOLATED, state.segment))
            else:
                slot.seen.append(_Seen(t.id, box, Reason.HELD))

    def _backfill(self, track: int, state: _TrackState, done: int, frames: int) -> None:
        """A new face was probably there, undetected, in the frames just before its first detection,
        back to the cut: those from ``done`` to ``frames`` before it are covered now."""
        index, box = state.first
        ghost = _place(box)
        for slot in self._slots:
            if index - frames <= slot.index < index - done and slot.index >= self._shot_start:
                slot.seen.append(_Seen(track, ghost, Reason.BACKFILL))

    # Output -------------------------------------------------------------------------------------
    def _final(self, slot: _Slot) -> Judged:
        if slot.mode is Mode.BLANK:
            return Judged(slot.index, slot.image, slot.payload, None, slot.cut)
        if slot.mode is Mode.SKIP and slot.index > self._latest_detection:
            if self.window:
                # No detection came after it in time (live under load): judged it cannot be.
                return Judged(slot.index, slot.image, slot.payload, None, slot.cut)
            self._predict(slot)
        need = self.config.confirm_matches
        decisions = []
        for s in slot.seen:
            seg = s.segment
            if seg is not None and seg.confirmed(need) and seg.doubted < slot.index <= seg.shown_until:
                decisions.append(Decision(s.face, False, Reason.REGISTERED, s.track, seg.person, s.similarity))
            else:
                decisions.append(Decision(s.face, True, s.reason, s.track, None, s.similarity))
        return Judged(slot.index, slot.image, slot.payload, decisions, slot.cut)

    def _predict(self, slot: _Slot) -> None:
        """Frame by frame (no window), a skipped frame has no detection after it: every face is
        carried where its motion predicts, grown a little, judged as at its last detection."""
        for t in self.tracker.tracks:
            state = self._tracks.get(t.id)
            if t.misses or state is None:
                slot.seen.append(_Seen(t.id, _place(t.box), Reason.HELD))
            else:
                slot.seen.append(_Seen(t.id, _place(grow(t.predicted(slot.index), 0.15)), Reason.PREDICTED,
                                       state.segment))


def _near(a, b, margin: float) -> bool:
    """Whether ``b`` comes within ``margin`` of ``a``'s size around it."""
    return iou(grow(a, 2 * margin), b) > 0


def _between(a, b, share: float) -> Face:
    """A place ``share`` of the way from box ``a`` to box ``b``, grown a little for the motion's
    uncertainty."""
    return _place(grow(tuple((1 - share) * v0 + share * v1 for v0, v1 in zip(a, b)), 0.1))


def _held(t: Track, frame: int) -> tuple:
    """Where a face the detector lost is covered on ``frame``: where it was last seen or, on the
    detection that lost it and the frames before, anywhere from there to where its motion puts it."""
    if t.misses != 1:
        return t.box
    a, b = t.box, t.predicted(frame)
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


def _place(box) -> Face:
    """A place to redact where no face was detected this frame."""
    return Face(tuple(float(v) for v in box), 0.0, _NO_LANDMARKS)
