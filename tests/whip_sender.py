"""A WHIP publisher with a known audio/video sync, for measuring what the relay does to it.

aiortc sends, a WebRTC implementation apart from the browser's: every second a white flash
and a 1 kHz tone burst start together, both paced by one clock, and its RTCP sender
reports say so. ``onsets`` finds both in a recording, ``sync_offsets`` pairs them.
"""

from __future__ import annotations

import asyncio
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription

RATE = 48000
FPS = 30
FLASH_FRAMES = 3
BURST_S = 0.1
FRAME_GAP_S = 1.5 / FPS  # the most a flash's first bright frame may follow the frame before it


class FramesTrack(MediaStreamTrack):
    """``frame(i)`` for i = 0..n at ``FPS``, then the track ends: n + 1 frames, since aiortc's receiver
    hands a frame on when the next one's packets begin, so a sender's very last frame stays in it."""

    kind = "video"

    def __init__(self, frame, n: int):
        super().__init__()
        self.frame, self.n, self.i, self.start = frame, n, 0, None

    async def recv(self):
        from aiortc.mediastreams import MediaStreamError

        if self.i > self.n:
            self.stop()
            raise MediaStreamError
        if self.start is None:
            self.start = time.monotonic()
        await asyncio.sleep(max(0.0, self.start + self.i / FPS - time.monotonic()))
        frame = av.VideoFrame.from_ndarray(self.frame(self.i), format="bgr24")
        frame.pts, frame.time_base = self.i * (90000 // FPS), Fraction(1, 90000)
        self.i += 1
        return frame


class _Clock:
    """Both tracks' timeline. It starts a little after the first frame is asked for, so that the
    other track, asked a moment later, is not behind from its first frame (a catch-up burst would
    make the sender's own reports map its timestamps late)."""

    LEAD = 0.3

    def __init__(self):
        self.start: float | None = None

    async def until(self, t: float) -> None:
        if self.start is None:
            self.start = time.monotonic() + self.LEAD
        delay = self.start + t - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)


class _Flashes(MediaStreamTrack):
    kind = "video"

    def __init__(self, clock: _Clock, size=(640, 360)):
        super().__init__()
        self.clock, self.i = clock, 0
        w, h = size
        self.dark = np.full((h, w, 3), 30, np.uint8)
        self.white = np.full((h, w, 3), 235, np.uint8)

    async def recv(self):
        i, self.i = self.i, self.i + 1
        await self.clock.until(i / FPS)
        frame = av.VideoFrame.from_ndarray(self.white if i % FPS < FLASH_FRAMES else self.dark, format="bgr24")
        frame.pts, frame.time_base = i * (90000 // FPS), Fraction(1, 90000)
        return frame


class _Beeps(MediaStreamTrack):
    kind = "audio"
    SAMPLES = 960  # 20 ms

    def __init__(self, clock: _Clock):
        super().__init__()
        self.clock, self.n = clock, 0

    async def recv(self):
        n, self.n = self.n, self.n + self.SAMPLES
        await self.clock.until(n / RATE)
        t = (np.arange(n, n + self.SAMPLES) % RATE) / RATE
        x = np.where(t < BURST_S, 0.5 * np.sin(2 * np.pi * 1000 * t), 0.0)
        frame = av.AudioFrame.from_ndarray((x * 32767).astype(np.int16)[None, :], format="s16", layout="mono")
        frame.pts, frame.sample_rate, frame.time_base = n, RATE, Fraction(1, RATE)
        return frame


async def _publish(base_url: str, token: str, seconds: float) -> None:
    import aiohttp

    clock = _Clock()
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))  # no STUN server: 127.0.0.1 needs none
    pc.addTrack(_Flashes(clock))
    pc.addTrack(_Beeps(clock))
    await pc.setLocalDescription(await pc.createOffer())
    auth = {"Authorization": f"Bearer {token}"}
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{base_url}/api/live/whip", data=pc.localDescription.sdp,
                                 headers={**auth, "Content-Type": "application/sdp"}) as res:
                assert res.status == 201, await res.text()
                await pc.setRemoteDescription(RTCSessionDescription(await res.text(), "answer"))
            await asyncio.sleep(seconds)
            async with http.delete(f"{base_url}/api/live/whip", headers=auth) as res:
                assert res.status == 204
    finally:
        await pc.close()


def publish(base_url: str, token: str, seconds: float) -> None:
    """Go live on a ``bystander serve`` over WHIP for ``seconds``, then stop."""
    asyncio.run(_publish(base_url, token, seconds))


def onsets(recording: Path) -> tuple[list[float], list[float]]:
    """Times (container seconds) where a flash starts in the video and a burst in the audio."""
    with av.open(str(recording)) as c:
        light = [(float(f.pts * f.time_base), f.to_ndarray(format="gray").mean()) for f in c.decode(video=0)]
    # A flash is timed by its first bright frame only where the frame before it is one frame
    # period earlier: after a gap (a sender skipping frames while its bandwidth estimate ramps up)
    # it began anywhere in that gap, a time not known to the 40 ms the tests hold sync to.
    flashes = [t for (t, m), (before_t, before) in zip(light[1:], light)
               if m > 128 >= before and t - before_t <= FRAME_GAP_S]
    bursts = []
    with av.open(str(recording)) as c:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
        quiet_until = -1.0
        for f in c.decode(audio=0):
            for r in resampler.resample(f):
                x = np.abs(r.to_ndarray().reshape(-1))
                loud = np.nonzero(x > 0.1)[0]
                t0 = float(r.pts * r.time_base)
                for i in loud:
                    t = t0 + i / RATE
                    if t > quiet_until:
                        bursts.append(t)
                    quiet_until = t + 0.5
    return flashes, bursts


def sync_offsets(recording: Path, after: float = 0.0) -> list[float]:
    """For each flash after ``after`` seconds, seconds from it to the nearest burst. Flashes with no
    burst within 0.5 s (before the audio joined), or after a gap in the frames, are left out."""
    flashes, bursts = onsets(recording)
    nearest = (min((b - f for b in bursts), key=abs, default=1.0) for f in flashes if f > after)
    return [o for o in nearest if abs(o) < 0.5]
