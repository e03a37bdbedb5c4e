"""The relay's engine thread: every frame through the look-ahead judge, on the live schedule.

Each frame is fed to the judge (``engine.judge.Judge``), which hands it on ``window`` frames later
with its decisions, for the encoder thread to redact as judged. The scheduler says, from how late
the engine runs, whether a frame is detected, skipped (placed between the detections around it)
or, too late to judge, redacted whole; recognition takes the time a detection leaves before the
next frame is due, a registered person's first.
"""

from __future__ import annotations

import logging
import queue
import time
from dataclasses import dataclass

import numpy as np

from ..engine import Engine
from ..engine.judge import Judge, Judged, Mode
from ..engine.report import PrivacyReport
from .schedule import Budget, LookAhead, Pace, Scheduler, analysis_sizes
from .stats import Analysis, LiveStats

log = logging.getLogger(__name__)

SESSION_END = object()  # in the frame queue: the publisher left (None: the stream ended)


def look_ahead(delay: float, rate) -> int:
    """Frames the judge may read ahead so that a frame leaves ``delay`` seconds after it came:
    judging, encoding and sending the frame take about one frame's time of it."""
    return max(0, round(delay * float(rate)) - 1)


@dataclass
class Frame:
    image: np.ndarray
    pts: int  # ms on the outgoing timeline
    arrival: float
    due: float | None = None  # when the engine was due to take it (``Pace``): after arrival in a burst
    # What the judge decided; None (until judged, or not judged in time): the whole frame is redacted.
    decisions: list | None = None


class Judging:
    def __init__(self, engine: Engine, budget: Budget, stride: int | None, size: tuple[int, int], window: int,
                 stats: LiveStats, privacy: PrivacyReport, detection_costs: dict[int | None, float] | None = None):
        self.engine = engine
        self.budget = budget
        self.stride = stride
        self.size = size
        self.window = window
        self.stats = stats
        self.privacy = privacy
        self.detection_costs = detection_costs or {}

    def run(self, frames: queue.Queue, judged_out: queue.Queue) -> None:
        """Judge ``Frame``s from ``frames`` into ``judged_out`` until None, which is passed on. At
        ``SESSION_END`` the frames still in the window go out at once (not after the grace period)
        and a new judge takes the next session."""
        self._out = judged_out
        scheduler = Scheduler(self.budget, self.stride,
                              analysis_sizes(self.size[0], self.size[1], self.engine.config.analysis_size),
                              self.detection_costs)
        judge = self._judge(self.window)
        self._look_ahead = LookAhead(self.window, max(self.budget.late_stride, self.engine.config.backfill_frames),
                                     self.budget.interval)
        pace, patience = Pace(Pace.WORK_OFF), Pace()
        while True:
            item = frames.get()
            if item is SESSION_END:
                for judged in judge.flush():
                    self._judged(judged)
                judge = self._judge(judge.window)
                pace, patience = Pace(Pace.WORK_OFF), Pace()
                continue
            if item is None:
                for judged in judge.flush():
                    self._judged(judged)
                judged_out.put(None)
                return
            due = item.due = pace.due(item.arrival, item.pts)
            now = time.monotonic()
            lag = now - due
            action = scheduler.choose(lag, frames.qsize(), now - patience.due(item.arrival, item.pts))
            # Recognition takes what the detection left of the frames until the next one is due, and
            # one face per detection while the engine keeps up (not while it works off a delay).
            judge.recognise_until = due if scheduler.late(lag) else \
                due + scheduler.stride * self.budget.interval * self.budget.share
            judge.recognise_first = lag <= self.budget.lag_limit
            judge.window = self._look_ahead.frames
            try:
                for judged in judge.push(item.image, item, action, scheduler.analysis_size):
                    self._judged(judged)
            except Exception:  # never let an unjudged frame out
                log.exception("engine failed on a frame; redacting the frames it held whole")
                for pending in judge.abandon():
                    self._judged(pending, fault=True)
                judge = self._judge(judge.window)
                scheduler.blanked()
                self.stats.count(errors=1)
                continue
            if action is Mode.DETECT:
                scheduler.detected(judge.spent.detect)
                self.stats.analysis = Analysis(scheduler.analysis_size or max(self.size), max(self.size),
                                               scheduler.stride)
                if scheduler.reduced:
                    self.stats.count(reduced=1)
                self.stats.count(detect=1)
            elif action is Mode.BLANK:
                scheduler.blanked()
            else:
                self.stats.count(coast=1)

    def _judge(self, window: int) -> Judge:
        """A judge without the second look: CenterFace's sweeps are spikes a live frame's deadline
        has not been measured to absorb on a slow core (two live tests failed with it on)."""
        judge = Judge(self.engine, window=window)
        judge.look_again = False
        return judge

    def _judged(self, judged: Judged, fault: bool = False) -> None:
        item: Frame = judged.payload
        # From when it was due, not when it came: a burst's wait at the start is worked off by the
        # pace, and a look-ahead shortened for it would show registered people later.
        self._look_ahead.left(time.monotonic() - (item.arrival if item.due is None else item.due))
        item.decisions = judged.decisions
        self.privacy.add(judged, fault)
        if judged.decisions is None:
            self.stats.count(frames=1, blank=1)
        else:
            kept = sum(1 for d in judged.decisions if not d.redact)
            self.stats.count(frames=1, faces_redacted=len(judged.decisions) - kept, faces_kept=kept)
        self._out.put(item)
