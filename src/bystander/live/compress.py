"""The relay's encoder thread: each judged frame redacted as decided, compressed once, fanned out.

Redaction happens here rather than on the engine thread, which stays free for the next frame's
detection.
"""

from __future__ import annotations

import logging
import queue
from typing import Callable

import numpy as np

from ..engine import Engine, redact_frame
from ..engine.report import PrivacyReport
from .destination import Chunk
from .encode import LiveEncoder
from .judging import Frame
from .stats import LiveStats

log = logging.getLogger(__name__)


class Compressor:
    def __init__(self, engine: Engine, encoder: LiveEncoder, fan_out: Callable[[Chunk], None], stats: LiveStats,
                 privacy: PrivacyReport):
        self.engine = engine
        self.encoder = encoder
        self.fan_out = fan_out
        self.stats = stats
        self.privacy = privacy
        self.last_output: np.ndarray | None = None  # the latest redacted frame, for a preview

    def run(self, judged: queue.Queue) -> None:
        """Until None: redact, encode and send each ``Frame``; then the encoder's last packets."""
        enc = self.encoder
        arrivals: dict[int, float] = {}
        while True:
            item = judged.get()
            if item is None:
                packets = enc.flush()
            else:
                self._redact(item)
                packets = enc.encode(item.image, item.pts)
                arrivals[item.pts] = item.arrival
                self.last_output = item.image
            for p in packets:
                self.fan_out(Chunk("video", bytes(p), p.pts, p.dts, p.is_keyframe, arrivals.pop(p.pts, None)))
                self.stats.frames_out.tick()
            if item is None:
                return

    def _redact(self, item: Frame) -> None:
        style = self.engine.config.style
        try:
            self.engine.redact_decisions(item.image, item.decisions)
        except Exception:  # never let an unredacted frame out
            log.exception("redaction failed on a frame; redacting the whole frame")
            redact_frame(item.image, style)
            self.stats.count(errors=1, blank=1)
            self.privacy.redacted_whole()
