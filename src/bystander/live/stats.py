"""What the relay reports each second: rates, added latency, degradation, faces, destinations."""

from __future__ import annotations

import collections
import os
import threading
import time
from dataclasses import asdict, dataclass

import numpy as np


class RateMeter:
    """Events per second over a sliding window."""

    def __init__(self, window: float = 2.0):
        self.window = window
        self._times: collections.deque = collections.deque()

    def tick(self, now: float | None = None) -> None:
        self._times.append(time.monotonic() if now is None else now)

    def rate(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        while self._times and self._times[0] < now - self.window:
            self._times.popleft()
        return len(self._times) / self.window


@dataclass(frozen=True)
class Analysis:
    """How much the relay currently looks at: what the machine's measured capacity allows."""

    size: int  # longest side the detector sees
    frame_size: int  # the frames' own longest side
    stride: int  # frames per detection

    def limit(self) -> str | None:
        """The streamer's sentence when the machine is the limit, else None."""
        how = self.how()
        return f"this machine keeps up by {how}" if how else None

    def how(self) -> str | None:
        """How less is looked at, when it is: "looking for faces in every 2nd frame, on a 960 px copy"."""
        if self.stride == 1 and self.size >= min(self.frame_size, 1280):
            return None
        every = "every frame" if self.stride == 1 else f"every {_ORDINAL.get(self.stride, f'{self.stride}th')} frame"
        smaller = f", on a {self.size} px copy" if self.size < min(self.frame_size, 1280) else ""
        return f"looking for faces in {every}{smaller}"


@dataclass(frozen=True)
class Output:
    """The picture the relay sends, and the publisher's when it was stepped down to fit the machine."""

    width: int
    height: int
    rate: float
    from_height: int | None = None  # the publisher's height, when it was more than this machine keeps up with
    # The measured estimate of a publisher's frame, in ms of this machine, and what it may take.
    estimate_ms: float | None = None
    allowed_ms: float | None = None

    def limit(self, how: str | None = None) -> str | None:
        """The streamer's sentence when the picture was stepped down, with ``how`` the relay keeps up."""
        if self.from_height is None:
            return None
        by = f" by {how}" if how else ""
        return f"this machine keeps up with {self.height}p{self.rate:.0f}{by}; {self.from_height}p is sent at {self.height}p"


_ORDINAL = {2: "2nd", 3: "3rd"}
# Blanked frames within this many seconds make the status say the machine cannot keep up.
BLANK_WINDOW = 5.0
# The status's latency covers the latest frames sent: about ten seconds at 30 fps.
LATENCY_SAMPLES = 300


class LiveStats:
    def __init__(self):
        self._lock = threading.Lock()
        self.started = time.monotonic()
        self._cpu0 = time.process_time()
        self.frames_in = RateMeter()
        self.frames_out = RateMeter()
        # frames, detect (of which reduced: on a smaller copy), coast, blank, errors, faces_redacted, faces_kept
        self.counts = collections.Counter()
        self._latency: collections.deque = collections.deque(maxlen=LATENCY_SAMPLES)
        self.blanks = RateMeter(BLANK_WINDOW)
        self.analysis: Analysis | None = None
        self.output: Output | None = None
        self._all_latency: list[float] = []
        self.ingest = "waiting"

    def count(self, **deltas: int) -> None:
        with self._lock:
            self.counts.update(deltas)
        if deltas.get("blank"):
            self.blanks.tick()

    def machine(self, now: float) -> str | None:
        """Whether this machine is the limit, in the streamer's words."""
        how = self.analysis.how() if self.analysis else None
        stepped = self.output.limit(how) if self.output else None
        if self.blanks.rate(now) > 0:
            if stepped:
                return f"{self.output.from_height}p is sent at {self.output.height}p, and even so this machine " \
                       "cannot keep up: some frames are sent blurred whole"
            hint = "; sending at 720p (--max-height 720) would fit" \
                if self.analysis and self.analysis.frame_size > 1280 else ""
            return f"this machine cannot keep up: some frames are sent blurred whole{hint}"
        return stepped or (self.analysis.limit() if self.analysis else None)

    def latency(self, seconds: float) -> None:
        with self._lock:
            self._latency.append(seconds)
            self._all_latency.append(seconds)

    def latency_percentiles(self, whole_run: bool = False) -> tuple[float | None, float | None]:
        with self._lock:
            values = list(self._all_latency if whole_run else self._latency)
        if not values:
            return None, None
        p50, p95 = np.percentile(values, [50, 95])
        return float(p50), float(p95)

    def snapshot(self, destinations) -> dict:
        now = time.monotonic()
        wall = now - self.started
        p50, p95 = self.latency_percentiles()
        with self._lock:
            counts = dict(self.counts)
        return {
            "uptime_s": round(wall, 1),
            "ingest": self.ingest,
            "fps_in": round(self.frames_in.rate(now), 2),
            "fps_out": round(self.frames_out.rate(now), 2),
            "latency_ms_p50": None if p50 is None else round(p50 * 1000, 1),
            "latency_ms_p95": None if p95 is None else round(p95 * 1000, 1),
            "cpu_share": round((time.process_time() - self._cpu0) / max(wall, 1e-6) / available_cores(), 3),
            **{k: counts.get(k, 0) for k in ("frames", "detect", "reduced", "coast", "blank", "errors",
                                             "faces_redacted", "faces_kept")},
            "analysis": asdict(self.analysis) if self.analysis else None,
            "output": asdict(self.output) if self.output else None,
            "machine": self.machine(now),
            "destinations": [d.status() for d in destinations],
        }


def status_line(s: dict) -> str:
    lat = "-" if s["latency_ms_p50"] is None else f"+{s['latency_ms_p50']:.0f} ms (p95 {s['latency_ms_p95']:.0f})"
    dests = ", ".join(f"{d['destination']}: {d['health']}" for d in s["destinations"])
    degraded = s["reduced"] + s["coast"] + s["blank"]
    machine = f" | {s['machine']}" if s.get("machine") else ""
    return (f"ingest {s['ingest']} | in {s['fps_in']:.1f} fps, out {s['fps_out']:.1f} fps | {lat} | "
            f"faces {s['faces_redacted']} redacted, {s['faces_kept']} kept | "
            f"degraded {degraded}, blanked {s['blank']}{machine} | {dests}")


def available_cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
