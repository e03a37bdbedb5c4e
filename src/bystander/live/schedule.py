"""How much analysis each live frame gets, so the output never waits and never leaks.

Every frame is judged in one of the judge's three modes (``engine.judge.Mode``):
- DETECT: the full engine (detection, tracking, recognition), on the frame or, when that costs
  more than a frame's share of time, on a smaller copy (the first degradation);
- SKIP: no detection; tracked faces are redacted where the detections around it place them (the second
  degradation, when even the smaller copy costs more than a frame's share of time, or the frame is
  more than an interval late);
- BLANK: the whole frame is redacted, because its faces could not be known in time.
"""

from __future__ import annotations

import collections
import math
import statistics
from collections.abc import Mapping
from dataclasses import dataclass

from ..engine.judge import Mode


# Detection threads in live mode. Decoding and encoding keep the second core busy there: two
# threads measured more CPU and more frames redacted whole, for no steady gain in latency.
DETECT_THREADS = 1
# Live frames have been through the streamer's encoder at a live bitrate, where faces score lower than
# in the file they came from: at the engine's 0.4, live left faces the file's own detection finds
# visible (docs/BENCHMARKS.md, "Faces left sharp in live").
DETECT_THRESHOLD = 0.3
# When detecting at full size costs too much, live detects on a copy this share of the frame's
# longest side before it skips any frame: a 20 px face is 15 px there, which the engine's
# downscaled_threshold still finds. Pedestrian clip at 720p, 60 s live runs, face-frames of 20 px
# or more left sharp: 43 of 15589 at 3/4 (p95 76 ms), 132 at 2/3 (p95 48 ms), 60 at full size
# skipping every other frame (p95 125 ms).
MIN_ANALYSIS_SCALE = 0.75


def live_settings() -> dict:
    """The engine settings live mode runs under (``Engine.with_config``)."""
    return {"threads": DETECT_THREADS, "detect_threshold": DETECT_THRESHOLD}


def analysis_sizes(width: int, height: int, analysis_size: int) -> tuple[int, ...]:
    """The longest sides the detector may look at, best first: the configured analysis size (or
    the frame's own, if smaller), then the smallest copy that still finds 20 px faces."""
    full = min(analysis_size, max(width, height))
    small = round(max(width, height) * MIN_ANALYSIS_SCALE)
    return (full, small) if small < 0.9 * full else (full,)


# Detections whose median cost decides the analysis size and the stride.
COST_SAMPLES = 5


@dataclass(frozen=True)
class Budget:
    interval: float  # seconds per frame at the input's nominal rate
    max_delay: float = 0.25  # a frame older than this when its turn comes is blanked
    # At most this many frames per detection, as detection's cost asks (the relay holds a coasted
    # frame until the next detection, to cover faces that entered on it: within the look-ahead, no
    # added latency; the relay sets it from the look-ahead's length).
    max_stride: int = 2
    # Frames per detection when the engine runs more than ``lag_limit`` late (a stream's start, a
    # machine that cannot detect every other frame): a longer run of coasted frames, each placed
    # between the detections around it and covered back to where a face came in, before any frame
    # waits long or is blanked. The lateness the relay settles at on a slow machine is ``lag_limit``.
    late_stride: int = 6
    lag_limit: float = 0.07  # seconds: two frames at 30 fps
    share: float = 0.95  # of a frame interval that detection and recognition may take on average
    # Once frames are blanked, detection resumes only this far inside ``max_delay``: resumed at the
    # limit, the detection a blanked frame calls for (its tracks are stale) makes the next frames late
    # again, and a slow machine settles into blanking two frames of three.
    resume: float = 0.5


class Pace:
    """When each frame is due at the engine: when it arrived, or later where frames came faster
    than the stream's own clock (the burst a server hands on at the start of a stream, a network
    catching up). A burst is then judged at the stream's pace instead of being redacted whole for
    having waited behind the frames that came with it; a frame that arrives late is due on arrival.
    The lead a burst gives (due after arrival) shrinks by ``catch_up`` of each frame's step, so the
    engine works it off instead of carrying it for the rest of the stream. The relay keeps two: the
    engine works to ``WORK_OFF`` (coasting where it cannot keep that pace), and blanks a frame only
    when it is late by ``CATCH_UP``."""

    MAX_STEP = 1.0  # seconds: a longer step between two frames' timestamps is a gap, not the pace
    CATCH_UP = 0.1  # a burst is due 10 % faster than the stream's pace, until it is worked off
    WORK_OFF = 0.5  # the pace the engine aims for while it works a burst off

    def __init__(self, catch_up: float = CATCH_UP):
        self.catch_up = catch_up
        self._arrival: float | None = None
        self._pts = 0
        self._lead = 0.0

    def due(self, arrival: float, pts_ms: int) -> float:
        if self._arrival is not None:
            step = min(max(0, pts_ms - self._pts) / 1000, self.MAX_STEP)
            self._lead = max(0.0, self._lead + (1 - self.catch_up) * step - (arrival - self._arrival))
        self._arrival, self._pts = arrival, pts_ms
        return arrival + self._lead


class Scheduler:
    def __init__(self, budget: Budget, stride: int | None = None, sizes: tuple[int | None, ...] = (None,),
                 expected: Mapping[int | None, float] | None = None):
        """``sizes``: analysis sizes to choose from, best first (``analysis_sizes``); ``expected``:
        the seconds a detection at some of them took before the stream (``Engine.warm_up``), which
        the schedule starts from instead of finding them out on the stream's first frames."""
        self.budget = budget
        self._fixed = stride
        self.stride = stride or 1
        self._sizes = sizes
        self._level = 0
        # The latest detections' seconds, as if at the current size. Their median is the cost: one
        # slow detection (a stream's first, the machine busy for a moment) moves nothing.
        self._costs: collections.deque[float] = collections.deque(maxlen=COST_SAMPLES)
        self._since = 10**9  # frames since the last detection
        self._blanking = False
        if expected and stride is None:
            self._start_from(expected)

    def _start_from(self, expected: Mapping[int | None, float]) -> None:
        """The first size whose detection fits a frame's share, or the smallest, at the stride its
        cost asks; half the samples are these, so that the stream's own soon decide."""
        known = [level for level, size in enumerate(self._sizes) if size in expected]
        if not known:
            return
        self._level = next((level for level in known if expected[self._sizes[level]] <= self._limit), known[-1])
        cost = expected[self._sizes[self._level]]
        self._costs.extend([cost] * (COST_SAMPLES // 2))
        self.stride = self._stride_for(cost)

    @property
    def _limit(self) -> float:
        """The seconds of a frame that detection and recognition may take on average."""
        return self.budget.interval * self.budget.share

    def _stride_for(self, cost: float) -> int:
        """Frames per detection for detections of ``cost`` seconds to keep within ``_limit``."""
        return max(1, min(self.budget.max_stride, math.ceil(cost / self._limit)))

    @property
    def analysis_size(self) -> int | None:
        """The longest side the next detection looks at (None: the detector's own)."""
        return self._sizes[self._level]

    @property
    def reduced(self) -> bool:
        """Whether detection currently runs on a smaller copy than the configured size."""
        return self._level > 0

    def choose(self, lag: float, backlog: int, overdue: float | None = None) -> Mode:
        """``lag``: seconds since this frame was due (``Pace``; negative: not due yet);
        ``backlog``: frames waiting behind it; ``overdue``: seconds since it was due by the patient
        pace (``Pace.CATCH_UP``; None: ``lag``), which decides whether it is blanked."""
        b = self.budget
        over = lag if overdue is None else overdue
        if over > b.max_delay * (b.resume if self._blanking else 1.0):
            self.blanked()
            self._blanking = True
            return Mode.BLANK
        self._blanking = False
        longest = b.late_stride if lag > b.lag_limit else b.max_stride
        may_coast = self._since + 1 < longest
        # Behind by more than a frame: skip detection here to catch up. A frame only a little late
        # (one slow detection before it) is detected still: coasted, it would wait for the next
        # detection anyway, and go out later than its own detection would let it. Frames queued
        # behind one that is not due yet (a burst, paced by ``Pace``) are no sign of falling behind.
        behind = lag > b.interval or (backlog > 1 and lag > 0)
        if may_coast and (self._since + 1 < self.stride or behind):
            self._since += 1
            return Mode.SKIP
        self._since = 0
        return Mode.DETECT

    def late(self, lag: float) -> bool:
        """Whether a frame this late needs the engine's time for detection: recognition is then only
        a registered person's and one face's per detection."""
        return lag > self.budget.max_delay / 2

    def detected(self, seconds: float) -> None:
        """Feed back what a detection cost, without its recognitions (they take what the detection
        leaves of the time, and would otherwise read as its cost). Over a frame's share, detection
        moves to a smaller copy first and skips frames only there; it moves back when the larger size
        would fit with room to spare (its cost estimated by area). Both wait for ``COST_SAMPLES``
        detections: until then a slow engine is caught by lateness alone."""
        self._costs.append(seconds)
        if self._fixed is not None or len(self._costs) < COST_SAMPLES:
            return
        cost = statistics.median(self._costs)
        if cost > self._limit and self._level + 1 < len(self._sizes):
            cost = self._resize(self._level + 1)
        elif self._level > 0 and cost * self._area(self._level - 1, self._level) < 0.7 * self._limit:
            cost = self._resize(self._level - 1)
        self.stride = self._stride_for(cost)

    def _resize(self, level: int) -> float:
        """Move detection to ``level``; the costs seen are rescaled to it. Returns their median."""
        scale = self._area(level, self._level)
        self._costs = collections.deque((c * scale for c in self._costs), maxlen=COST_SAMPLES)
        self._level = level
        return statistics.median(self._costs)

    def _area(self, to: int, frm: int) -> float:
        a, b = self._sizes[to], self._sizes[frm]
        return 1.0 if a is None or b is None else (a / b) ** 2

    def blanked(self) -> None:
        """After a blanked frame (late, or the engine failed) tracks are stale: the next frame detects."""
        self._since = 10**9


class LookAhead:
    """How many frames the judge holds back. ``look_ahead`` leaves one frame's time of the delay for
    judging and encoding; where they take longer (a slow machine, a busy one), the frames held are
    fewer by that much, so the output keeps to the delay the streamer chose. Never fewer than
    ``shortest``: the frames a new face is covered back to, and the longest run of coasted frames."""

    SAMPLES = 30  # frames whose median time in the judge decides a step; at most one step per SAMPLES

    def __init__(self, nominal: int, shortest: int, interval: float):
        self.nominal = nominal
        self.shortest = min(shortest, nominal)
        self.interval = interval
        self.frames = nominal
        self._over: list[float] = []

    def left(self, seconds: float) -> int:
        """Feed the seconds from when a frame was due to its leaving the judge; returns the frames to hold."""
        self._over.append(seconds - self.frames * self.interval)
        if len(self._over) >= self.SAMPLES:
            best = self.nominal - statistics.median(self._over) / self.interval
            if best < self.frames - 0.75 and self.frames > self.shortest:
                self.frames -= 1
            elif best > self.frames + 0.75 and self.frames < self.nominal:
                self.frames += 1
            self._over.clear()
        return self.frames

