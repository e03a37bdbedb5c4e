"""Going live from the browser: WHIP (WebRTC-HTTP ingestion) into the same relay as RTMP.

aiortc receives the camera and microphone. Each track's RTP timestamps are mapped to the
sender's clock with its RTCP sender reports, so audio and video are placed on one timeline
as the browser captured them, not as they happened to arrive. Chromium only sends 720p30
when the answer carries bitrate hints, so the answer SDP gets them.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import re
import threading
import time
from fractions import Fraction

from ..live.encode import AudioPath

log = logging.getLogger(__name__)

BITRATE_HINTS = "x-google-start-bitrate=2500;x-google-min-bitrate=1000;x-google-max-bitrate=4500"


def with_bitrate_hints(sdp: str) -> str:
    """The answer with Chromium's bitrate hints on every video codec."""
    lines = sdp.split("\r\n")
    video_pts, in_video = set(), False
    for line in lines:
        if line.startswith("m="):
            in_video = line.startswith("m=video")
        elif in_video and (m := re.match(r"a=rtpmap:(\d+) (VP8|VP9|H264|AV1)/", line)):
            video_pts.add(m.group(1))
    out, has_fmtp = [], set()
    for line in lines:
        m = re.match(r"a=fmtp:(\d+) (.*)", line)
        if m and m.group(1) in video_pts:
            line = f"{line};{BITRATE_HINTS}"
            has_fmtp.add(m.group(1))
        out.append(line)
    final = []
    for line in out:
        final.append(line)
        m = re.match(r"a=rtpmap:(\d+) ", line)
        if m and m.group(1) in video_pts and m.group(1) not in has_fmtp:
            final.append(f"a=fmtp:{m.group(1)} {BITRATE_HINTS}")
    return "\r\n".join(final)


class SenderClock:
    """One RTP stream's timestamps on the sender's wall clock, from its latest sender report."""

    def __init__(self, clock_rate: int):
        self.rate = clock_rate
        self._sr: tuple[int, float] | None = None  # (RTP timestamp, NTP seconds)
        self._mapper = None  # the receiver's, which gives frames RTP time since its first frame

    def report(self, rtp_timestamp: int, ntp_timestamp: int) -> None:
        self._sr = (rtp_timestamp, ntp_timestamp / 2**32)

    def seconds(self, rtp_timestamp: int) -> float | None:
        if self._sr is None:
            return None
        rtp0, ntp0 = self._sr
        diff = ((rtp_timestamp - rtp0 + 2**31) % 2**32) - 2**31  # RTP timestamps wrap at 32 bits
        return ntp0 + diff / self.rate

    def frame_seconds(self, pts: int) -> float | None:
        """Sender seconds of a frame aiortc decoded. Its pts counts from the stream's first RTP
        timestamp, which sender reports do not: that origin is added back."""
        origin = getattr(self._mapper, "_origin", None)
        return None if origin is None else self.seconds(pts + origin)

    def follow(self, receiver) -> None:
        """Take this aiortc receiver's RTCP sender reports, and see its RTP timestamp origin."""
        from aiortc.rtp import RtcpSrPacket

        self._mapper = getattr(receiver, "_RTCRtpReceiver__timestamp_mapper", None)
        if self._mapper is None:
            raise RuntimeError("this aiortc keeps its RTP timestamp origin elsewhere; bystander needs aiortc 1.x")
        original = receiver._handle_rtcp_packet

        async def handle(packet):
            # A report sent before any media (aiortc's first, for one) maps nothing: NTP and RTP are 0.
            if isinstance(packet, RtcpSrPacket) and packet.sender_info.packet_count:
                self.report(packet.sender_info.rtp_timestamp, packet.sender_info.ntp_timestamp)
            await original(packet)

        receiver._handle_rtcp_packet = handle


class WebRtcSource:
    """Frames from one browser connection, handed to the relay's reader thread."""

    def __init__(self, rate: Fraction = Fraction(30)):
        self.rate = rate
        self.clocks = {"video": SenderClock(90000), "audio": SenderClock(48000)}
        # Sender-clock seconds of the first frame placed. Times are kept relative to it: NTP
        # seconds (~4e9) in 1/48000 units, rescaled once more inside FFmpeg, overflow 64 bits.
        self._origin: float | None = None
        self._queue: queue.Queue = queue.Queue(maxsize=600)
        self.ended = threading.Event()

    async def consume(self, track) -> None:
        """Run on the event loop: every frame of ``track`` into the queue, until it ends."""
        from aiortc.mediastreams import MediaStreamError

        try:
            while True:
                frame = await track.recv()
                try:
                    self._queue.put_nowait((track.kind, frame, time.monotonic()))
                except queue.Full:
                    log.warning("webrtc: the relay is not keeping up; a %s frame was dropped", track.kind)
        except MediaStreamError:
            pass
        finally:
            if track.kind == "video":
                self.ended.set()

    def run(self, relay) -> None:
        relay.stats.ingest = "waiting"
        while not relay.stopping:
            try:
                kind, frame, arrival = self._queue.get(timeout=0.5)
            except queue.Empty:
                if self.ended.is_set():
                    return
                continue
            t = self.clocks[kind].frame_seconds(frame.pts)
            if t is None:
                continue  # no sender report yet: it cannot be placed against the other track
            if self._origin is None:
                self._origin = t
            t -= self._origin
            if kind == "video":
                if not relay.ready:
                    relay.open_outputs(frame.width, frame.height, self.rate, AudioPath())
                    relay.new_session()
                    relay.stats.ingest = "live"
                relay.video(frame.to_ndarray(format="bgr24"), int(round(t * 1000)), arrival)
            elif relay.ready and relay.has_audio:
                frame.pts, frame.time_base = int(round(t * frame.sample_rate)), Fraction(1, frame.sample_rate)
                relay.audio(relay.audio_path.encode_frame(frame), arrival)


class BadOffer(ValueError):
    """An SDP offer that cannot start a session; the message says why."""


def check_offer(sdp: str) -> None:
    """Refuse, before aiortc sees it, an offer that could only start a session that never ends:
    one without a video track to relay, or without what ICE and DTLS need to connect."""
    lines = [line.strip() for line in sdp.strip().splitlines()]
    if not lines or lines[0] != "v=0":
        raise BadOffer("not an SDP offer (it must start with v=0)")
    media = [line for line in lines if line.startswith("m=")]
    if not any(re.match(r"m=video \d+ [A-Z/]+ \d+", line) for line in media):
        raise BadOffer("no video m-line: the offer must send a camera track")
    for needed in ("a=ice-ufrag:", "a=ice-pwd:", "a=fingerprint:"):
        if not any(line.startswith(needed) for line in lines):
            raise BadOffer(f"no {needed.rstrip(':')} line")


async def answer(offer_sdp: str, source: WebRtcSource):
    """Accept a WHIP offer; returns (peer connection, answer SDP). Raises BadOffer."""
    from aiortc import RTCPeerConnection, RTCSessionDescription

    check_offer(offer_sdp)
    pc = RTCPeerConnection()
    received: set[str] = set()

    @pc.on("track")
    def on_track(track) -> None:
        received.add(track.kind)
        asyncio.ensure_future(source.consume(track))

    @pc.on("connectionstatechange")
    async def on_state() -> None:
        if pc.connectionState == "failed":  # closing ends the tracks, and with them the relay
            await pc.close()

    try:
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        if "video" not in received:
            raise BadOffer("the offer sends no video")
        for transceiver in pc.getTransceivers():
            if transceiver.kind in source.clocks:
                source.clocks[transceiver.kind].follow(transceiver.receiver)
        await pc.setLocalDescription(await pc.createAnswer())
    except Exception as exc:  # aiortc fails on bad SDP with AssertionError, ValueError, KeyError...
        await pc.close()
        if isinstance(exc, BadOffer):
            raise
        raise BadOffer(f"malformed SDP ({str(exc) or type(exc).__name__})") from None
    return pc, with_bitrate_hints(pc.localDescription.sdp)
