"""Where a live stream comes from: one typed interface, two ingests.

A ``Source`` yields what the publisher sends as events, on the reader thread, until it is gone
for good: a ``Session`` when a publisher (re)connects, then its decoded ``Video`` frames and its
``Audio`` (packets or frames, with their own timestamps), and ``Ended`` when it leaves.
``close()``, from any thread, ends the events soon.

- ``RtmpSource`` plays the nginx-rtmp ingest's private stream. Its player is attached before
  the publisher arrives (the key check answers only once it is), so the stream is received from
  its first packet, sequence headers and first keyframe included.
- ``WebRtcSource`` takes a browser's tracks from aiortc, placed on the sender's clock by its
  RTCP sender reports (``server.whip`` answers the offer).
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Iterator, Protocol, Union

import av
import numpy as np

from .encode import AudioPath
from .ingest import RtmpIngest

log = logging.getLogger(__name__)

# Not fflags=nobuffer: it throws away the packets read while probing, the first keyframe among them.
# No frames read to guess the frame rate (fpsprobesize 0; the rate comes from the stream's metadata):
# with FLV's millisecond timestamps FFmpeg reads 40 frames for it, capped at analyzeduration, so every
# stream began a second behind its publisher and the relay had that second to work off.
_PLAY_OPTIONS = {"rtmp_live": "live", "flags": "low_delay", "analyzeduration": "1000000", "probesize": "1000000",
                 "fpsprobesize": "0"}
# No data for this long from a publisher nginx still holds: the session is over. nginx itself drops a
# publisher that sends nothing (nginx.IDLE_PUBLISHER) and then ends our play at once.
READ_TIMEOUT = 15.0
DEFAULT_RATE = Fraction(30)
ARRIVAL_WAIT = 5.0  # s a publisher just let in has for its stream to be read before the wait runs out
UNREPORTED_MAX = 240  # WebRTC frames (audio and video, ~3 s) held for their track's first sender report


@dataclass(frozen=True)
class Session:
    """A publisher (re)connected. ``audio`` makes the path that turns its audio into AAC (None:
    no audio); ``rate`` is its video frame rate."""

    rate: Fraction
    audio: Callable[[], AudioPath] | None


@dataclass(frozen=True)
class Video:
    image: np.ndarray  # BGR
    ms: int  # the publisher's timestamp
    arrival: float  # time.monotonic() when it was received


@dataclass(frozen=True)
class Audio:
    item: av.Packet | av.AudioFrame  # timestamps in its own time_base, on the publisher's clock
    arrival: float


@dataclass(frozen=True)
class Ended:
    """The publisher left; the source waits for it to return."""


Event = Union[Session, Video, Audio, Ended]


class Source(Protocol):
    # The size to decode frames to (the relay's output size), None: the publisher's own. Scaling in
    # the conversion from the decoder's YUV costs a fraction of converting at full size and scaling after.
    frame_size: tuple[int, int] | None

    def events(self) -> Iterator[Event]: ...

    def close(self) -> None: ...


class RtmpSource:
    """The RTMP ingest's published stream, session after session. Ends when no publisher came within
    ``first_wait`` seconds (None: wait forever), or none returned within ``grace`` of leaving."""

    def __init__(self, ingest: RtmpIngest, first_wait: float | None = None, grace: float = 30.0):
        self.ingest = ingest
        self.first_wait = first_wait
        self.grace = grace
        self.frame_size: tuple[int, int] | None = None
        self._closed = threading.Event()
        self._expired = threading.Event()  # the wait ran out with no publisher's media
        self._receiving = threading.Event()  # the current play has a publisher's stream

    def close(self) -> None:
        self._closed.set()
        self._drop_player()

    def events(self) -> Iterator[Event]:
        wait = self.first_wait
        while not self._closed.is_set():
            accepted = self.ingest.accepted
            self._receiving.clear()
            self._expired.clear()
            done = threading.Event()
            if wait is not None:
                threading.Thread(target=self._watch, args=(time.monotonic() + wait, done),
                                 name="bystander-ingest-wait", daemon=True).start()
            try:
                yield from self._play(accepted)
            finally:
                done.set()
            if self._closed.is_set() or (self._expired.is_set() and self.ingest.accepted == accepted):
                return
            if self.ingest.accepted != accepted:  # a publisher came and went
                yield Ended()
                log.info("ingest ended; waiting %.0f s for the publisher to return", self.grace)
                wait = self.grace

    def _watch(self, deadline: float, done: threading.Event) -> None:
        """At ``deadline``, end a play that no publisher's media has reached (one let in just before
        gets ``ARRIVAL_WAIT`` more; one that left before sending anything does not hold it open)."""
        while not done.wait(max(0.0, deadline - time.monotonic())):
            if self._receiving.is_set():
                return
            if self.ingest.last_accepted > time.monotonic() - ARRIVAL_WAIT:
                deadline = self.ingest.last_accepted + ARRIVAL_WAIT
                continue
            self._expired.set()
            self._drop_player()
            return

    def _drop_player(self) -> None:
        try:
            self.ingest.drop_player()
        except Exception as exc:  # nginx already gone: nothing is playing
            log.debug("dropping the ingest player: %s", exc)

    def _play(self, accepted: int) -> Iterator[Event]:
        """Attach a player to the private stream and relay the session it receives, if any
        (``accepted``: the ingest's count of publishers before it). A player that opened on a
        stream with no media yet plays again: PyAV's streams are fixed when it opens."""
        while True:
            try:
                container = av.open(self.ingest.pull_url, options=_PLAY_OPTIONS, timeout=(None, READ_TIMEOUT))
            except av.error.FFmpegError as exc:
                if self._closed.is_set() or self._expired.is_set():
                    return
                if self.ingest.accepted != accepted:
                    log.warning("ingest: the publisher left before its stream could be read (%s)",
                                exc.strerror or "no media")
                time.sleep(0.5)
                return
            with container:
                if container.streams:
                    self._receiving.set()
                    yield from self._session(container)
                    return
            if self._closed.is_set() or self._expired.is_set():
                return
            time.sleep(0.1)

    def _session(self, container) -> Iterator[Event]:
        if not container.streams.video:
            log.warning("ingest: the published stream has no video; waiting for one that has")
            self._drain(container)
            return
        video = container.streams.video[0]
        video.thread_type = "SLICE"
        audio = container.streams.audio[0] if container.streams.audio else None
        yield Session(video.guessed_rate or video.average_rate or DEFAULT_RATE,
                      (lambda: AudioPath(audio)) if audio is not None else None)
        undecodable = 0
        try:
            for packet in container.demux(*([video] + ([audio] if audio is not None else []))):
                if self._closed.is_set():
                    return
                if packet.dts is None:
                    continue
                arrival = time.monotonic()
                if packet.stream is not video:
                    yield Audio(packet, arrival)
                    continue
                try:
                    frames = packet.decode()
                except av.error.InvalidDataError:  # e.g. frames before the first keyframe of a mid-GOP start
                    undecodable += 1
                    continue
                for frame in frames:
                    ts = frame.pts if frame.pts is not None else packet.dts
                    yield Video(bgr(frame, self.frame_size), _ms(ts, video.time_base), arrival)
            for frame in video.codec_context.decode(None):  # the decoder's last frames
                if frame.pts is not None:
                    yield Video(bgr(frame, self.frame_size), _ms(frame.pts, video.time_base), time.monotonic())
        except av.error.FFmpegError as exc:
            if self.ingest.publishing and not self._closed.is_set():
                log.warning("ingest: read failed (%s)", exc.strerror or "error")
        except IndexError:  # PyAV on a stream the publisher added after the first packets
            log.warning("ingest: the publisher added a stream mid-session; reading its stream afresh")
        if undecodable:
            log.info("ingest: %d video packets could not be decoded (no keyframe before them)", undecodable)

    def _drain(self, container) -> None:
        """Read a session that cannot be relayed to its end, so that it is reported once."""
        try:
            for _ in container.demux():
                if self._closed.is_set():
                    return
        except (av.error.FFmpegError, IndexError):
            pass


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
    """Frames from one browser connection (``consume`` runs on aiortc's event loop)."""

    def __init__(self, rate: Fraction = DEFAULT_RATE):
        self.rate = rate
        self.frame_size: tuple[int, int] | None = None
        self.clocks = {"video": SenderClock(90000), "audio": SenderClock(48000)}
        # Sender-clock seconds of the first frame placed. Times are kept relative to it: NTP
        # seconds (~4e9) in 1/48000 units, rescaled once more inside FFmpeg, overflow 64 bits.
        self._origin: float | None = None
        self._queue: queue.Queue = queue.Queue(maxsize=600)
        self.ended = threading.Event()
        self._closed = threading.Event()

    async def consume(self, track) -> None:
        """Every frame of ``track`` into the queue, until it ends."""
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

    def close(self) -> None:
        self._closed.set()

    def events(self) -> Iterator[Event]:
        started = False
        # Frames that came before their track's first sender report wait for it (it follows within
        # about a second), rather than be lost: they are placed with it like the rest, and count as having
        # arrived then. Stamped on their true arrival, the whole first second would reach the judge
        # already past its deadline and go out redacted whole; as they are, they come as a burst,
        # which the relay judges at the stream's pace.
        waiting: collections.deque = collections.deque()
        dropped = 0
        while not self._closed.is_set():
            try:
                waiting.append(self._queue.get(timeout=0.5))
            except queue.Empty:
                if self.ended.is_set():
                    return
                continue
            if len(waiting) > UNREPORTED_MAX:
                waiting.popleft()
                if not dropped:
                    log.warning("webrtc: the browser sends no RTCP sender reports; its frames cannot be placed")
                dropped += 1
            held, placeable = collections.deque(), []
            placed = time.monotonic()
            for n, (kind, frame, arrival) in enumerate(waiting):
                t = self.clocks[kind].frame_seconds(frame.pts)
                if t is None:
                    held.append((kind, frame, arrival))
                else:
                    placeable.append((kind, frame, arrival if n == len(waiting) - 1 else placed, t))
            waiting = held
            for kind, frame, arrival, t in placeable:
                if self._origin is None:
                    self._origin = t
                t -= self._origin
                if kind == "video":
                    if not started:
                        started = True
                        yield Session(self.rate, AudioPath)
                    yield Video(bgr(frame, self.frame_size), int(round(t * 1000)), arrival)
                elif started:
                    frame.pts, frame.time_base = int(round(t * frame.sample_rate)), Fraction(1, frame.sample_rate)
                    yield Audio(frame, arrival)


def bgr(frame: av.VideoFrame, size: tuple[int, int] | None) -> np.ndarray:
    """The frame as BGR pixels, at ``size`` (None: its own)."""
    if size is None or size == (frame.width, frame.height):
        return frame.to_ndarray(format="bgr24")
    return frame.to_ndarray(width=size[0], height=size[1], format="bgr24")


def _ms(ts: int, time_base: Fraction) -> int:
    return int(round(ts * time_base * 1000))
