"""Where each incoming frame and audio packet goes on the outgoing timeline (milliseconds).

Output timestamps are the publisher's, shifted so that a stream starts at 0; audio gets the same
shift, so sync at the destination is the publisher's, and irregular (VFR) spacing passes through
as sent. A publisher that drops and comes back continues the same outgoing stream, the time it
was away kept as real time. A clock that jumps within one connection (backwards, or far ahead of
the time that really passed) is taken as such a return too. Pure: arrival times are given.
"""

from __future__ import annotations

JUMP_BACK_MS = 500  # a timestamp this far behind the last one sent: the publisher's clock restarted
JUMP_AHEAD_MS = 3000  # this much further ahead than the time that passed: the clock jumped forward


class Timeline:
    def __init__(self):
        self._base: int | None = None  # publisher ms minus outgoing ms, for the current session
        self._last_ts: int | None = None  # latest outgoing timestamp, audio or video
        self._last_video: int | None = None
        self._last_audio: int | None = None
        self._last_arrival = 0.0

    @property
    def started(self) -> bool:
        """Whether anything has been placed yet."""
        return self._last_ts is not None

    def new_session(self) -> None:
        """A publisher (re)connected: its clock will be placed after what was already sent."""
        self._base = None

    def video(self, ms: int, arrival: float) -> int:
        """A frame's outgoing timestamp; always after the previous frame's."""
        pts = self._place(ms, self._last_video, arrival)
        if self._last_video is not None and pts <= self._last_video:
            pts = self._last_video + 1
        self._last_video = pts
        self._sent(pts, arrival)
        return pts

    def audio(self, dts_ms: int, pts_ms: int, arrival: float) -> tuple[int, int] | None:
        """An audio packet's outgoing (pts, dts), or None where it overlaps audio already sent
        (a returning publisher's clock placed it there)."""
        dts = self._place(dts_ms, self._last_audio, arrival)
        if self._last_audio is not None and dts <= self._last_audio:
            return None
        self._last_audio = dts
        self._sent(dts, arrival)
        return pts_ms - self._base, dts

    def _place(self, ms: int, last: int | None, arrival: float) -> int:
        if self._base is None or self._jumped(ms - self._base, last, arrival):
            self._base = ms - self._session_start(arrival)
        return ms - self._base

    def _jumped(self, ts: int, last: int | None, arrival: float) -> bool:
        if last is None:
            return False
        return ts < last - JUMP_BACK_MS or ts - self._last_ts > (arrival - self._last_arrival) * 1000 + JUMP_AHEAD_MS

    def _session_start(self, arrival: float) -> int:
        """0 for the first session; for a publisher that came back, after the last timestamp sent
        plus the real time it was away."""
        if self._last_ts is None:
            return 0
        return self._last_ts + max(1, int((arrival - self._last_arrival) * 1000))

    def _sent(self, ts: int, arrival: float) -> None:
        self._last_ts = ts if self._last_ts is None else max(self._last_ts, ts)
        self._last_arrival = arrival
