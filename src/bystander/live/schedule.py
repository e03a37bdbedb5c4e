"""How much analysis each live frame gets, so the output never waits and never leaks.

Every frame is judged in one of three ways:
- DETECT: the full engine (detection, tracking, recognition);
- COAST: no detection; tracked faces are redacted where their motion predicts (the
  degraded mode when detection costs more than a frame's share of time);
- BLANK: the whole frame is redacted, because its faces could not be known in time.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass


# Detection threads in live mode. Decoding and encoding keep the second core busy there: two
# threads measured more CPU and more frames redacted whole, for no steady gain in latency.
DETECT_THREADS = 1
# Above 1280 px the detector sees a downscaled copy; live has no look-ahead to recover the small
# faces that this loses, so it detects there with a lower threshold (1080p pedestrian clip, faces of
# 20 px or more missed at 1280: 76 of 550 at 0.4, 27 at 0.3, 7 at 0.2). The price is more blurred
# patches that are not faces.
DOWNSCALED_THRESHOLD = 0.2


class Action(enum.Enum):
    DETECT = "detect"
    COAST = "coast"
    BLANK = "blank"


@dataclass(frozen=True)
class Budget:
    interval: float  # seconds per frame at the input's nominal rate
    max_delay: float = 0.25  # a frame older than this when its turn comes is blanked
    max_stride: int = 2  # at most this many frames per detection (the relay holds a coasted frame
    # until the next detection, to cover faces that entered on it: one frame of added latency at most)
    share: float = 0.8  # of a frame interval that detection may take on average


class Scheduler:
    def __init__(self, budget: Budget, stride: int | None = None):
        self.budget = budget
        self._fixed = stride
        self.stride = stride or 1
        self._cost: float | None = None  # moving average of a detection's seconds
        self._since = 10**9  # frames since the last detection

    def choose(self, lag: float, backlog: int) -> Action:
        """``lag``: seconds since this frame arrived; ``backlog``: frames waiting behind it."""
        b = self.budget
        if lag > b.max_delay:
            self.blanked()
            return Action.BLANK
        may_coast = self._since + 1 < b.max_stride
        if may_coast and (self._since + 1 < self.stride or backlog > 0):
            self._since += 1
            return Action.COAST
        self._since = 0
        return Action.DETECT

    def detected(self, seconds: float) -> None:
        """Feed back what a detection cost; the stride follows the moving average."""
        self._cost = seconds if self._cost is None else 0.9 * self._cost + 0.1 * seconds
        if self._fixed is None:
            need = math.ceil(self._cost / (self.budget.interval * self.budget.share))
            self.stride = max(1, min(self.budget.max_stride, need))

    def blanked(self) -> None:
        """After a blanked frame (late, or the engine failed) tracks are stale: the next frame detects."""
        self._since = 10**9
