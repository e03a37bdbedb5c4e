"""The live relay: ingest → decode → engine → H.264 → every destination, timestamps kept.

Four kinds of thread, joined by short queues:
- the reader pulls the ingest, decodes video and hands audio straight to the outputs;
- the engine thread judges each frame (``schedule.Scheduler``);
- the encoder thread redacts it as judged and compresses it once for all destinations (redaction
  there keeps the engine thread free for the next frame's detection);
- each destination writes at its own pace (``destination.Destination``).

Output timestamps are the input's, shifted so a stream starts at 0; audio gets the
same shift, so sync at the destination is the publisher's. A publisher that drops
and comes back within the grace period continues the same outgoing stream, the gap
kept as real time.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable

import av
import numpy as np

from ..engine import Engine, redact_frame
from ..engine.judge import Judge, Judged, Mode
from ..engine.report import PrivacyReport
from .destination import Chunk, Destination, Recording
from .encode import AudioPath, LiveEncoder
from .ingest import RtmpIngest
from .schedule import Action, Budget, Scheduler, analysis_sizes
from .stats import LiveStats

log = logging.getLogger(__name__)

_PULL_OPTIONS = {"rtmp_live": "live", "fflags": "nobuffer", "flags": "low_delay",
                 "analyzeduration": "1000000", "probesize": "1000000"}


@dataclass
class RelayOptions:
    destinations: list[str]
    record: Path | None = None
    kbps: int | None = None
    max_delay: float = 0.25  # a frame not analysed this long after it arrived is redacted whole
    delay: float = 0.5  # how far the output runs behind the input: the judge's look-ahead
    stride: int | None = None  # frames per detection; None adapts to the machine


@dataclass
class _Frame:
    image: np.ndarray
    pts: int  # ms on the outgoing timeline
    arrival: float
    # What the judge decided; None (until judged, or not judged in time): the whole frame is redacted.
    decisions: list | None = None


class RtmpSource:
    """Plays the RTMP ingest's published stream, session after session, into the relay."""

    def __init__(self, ingest: RtmpIngest, first_wait: float | None = None, grace: float = 30.0):
        self.ingest = ingest
        self.first_wait = first_wait
        self.grace = grace

    def run(self, relay: "Relay") -> None:
        wait = self.first_wait
        while not relay.stopping:
            relay.stats.ingest = "reconnecting" if relay.started else "waiting"
            if not self._wait_publisher(relay, wait):
                return
            relay.stats.ingest = "live"
            self._pull(relay)
            log.info("ingest ended; waiting %.0f s for the publisher to return", self.grace)
            wait = self.grace

    def _wait_publisher(self, relay: "Relay", timeout: float | None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not relay.stopping:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            if self.ingest.wait(0.2 if left is None else min(0.2, left)):
                return True
        return False

    def _pull(self, relay: "Relay") -> None:
        """Relay one publishing session."""
        try:
            container = av.open(self.ingest.pull_url, options=_PULL_OPTIONS, timeout=(10.0, 3.0))
        except av.error.FFmpegError as exc:
            log.warning("ingest: could not play the published stream (%s)", exc.strerror or "error")
            time.sleep(0.5)
            return
        with container:
            if not container.streams.video:
                log.warning("ingest: the published stream has no video")
                return
            video = container.streams.video[0]
            video.thread_type = "SLICE"
            audio = container.streams.audio[0] if container.streams.audio else None
            if not relay.ready:
                rate = video.guessed_rate or video.average_rate or Fraction(30)
                relay.open_outputs(video.codec_context.width, video.codec_context.height, rate,
                                   AudioPath(audio) if audio is not None else None)
            relay.new_session()
            streams = [video] + ([audio] if audio is not None and relay.has_audio else [])
            try:
                for packet in container.demux(*streams):
                    if relay.stopping:
                        break
                    if packet.dts is None:
                        continue
                    arrival = time.monotonic()
                    if packet.stream is video:
                        for frame in packet.decode():
                            ts = frame.pts if frame.pts is not None else packet.dts
                            relay.video(frame.to_ndarray(format="bgr24"), _ms(ts, packet.time_base), arrival)
                    else:
                        relay.audio(relay.audio_path.convert(packet), arrival)
            except av.error.FFmpegError as exc:
                if self.ingest.publishing:
                    log.warning("ingest: read failed (%s)", exc.strerror or "error")


class Relay:
    def __init__(self, engine: Engine, source, options: RelayOptions,
                 on_status: Callable[[dict], None] | None = None):
        """``source.run(relay)`` feeds the relay from the reader thread (``RtmpSource``, or the web
        app's WebRTC source) through ``open_outputs``, ``new_session``, ``video`` and ``audio``."""
        self.engine = engine
        self.source = source
        self.options = options
        self.stats = LiveStats()
        self.on_status = on_status
        self._frames: queue.Queue = queue.Queue(maxsize=30)
        self._encode: queue.Queue = queue.Queue(maxsize=8)
        self._stopping = threading.Event()
        self._encoder: LiveEncoder | None = None
        self._audio: AudioPath | None = None
        self._ready = threading.Event()  # encoder and audio templates exist
        self.destinations: list[Destination] = []
        self._error: BaseException | None = None
        self._last_ts: int | None = None  # latest outgoing timestamp (ms), audio or video
        self._last_video: int | None = None
        self._last_audio: int | None = None
        self._last_arrival = 0.0
        self._base: int | None = None  # publisher ms minus outgoing ms, for the current session
        self.last_output: np.ndarray | None = None  # the latest redacted frame, for a preview
        self.privacy = PrivacyReport()
        self._rate = Fraction(30)

    def stop(self) -> None:
        self._stopping.set()

    # The outgoing streams are set up once, from the first ingest session's parameters.
    def _templates(self):
        return self._encoder.stream, (self._audio.stream if self._audio else None)

    def _request_keyframe(self) -> None:
        if self._encoder is not None:
            self._encoder.request_keyframe()

    def _fan_out(self, chunk: Chunk) -> None:
        for d in self.destinations:
            d.send(chunk)

    # Reader: the source calls these from its thread -------------------------------------------
    def _read(self) -> None:
        try:
            self.source.run(self)
        except BaseException as exc:  # surfaced by run()
            self._error = exc
        finally:
            self._frames.put(None)

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def open_outputs(self, width: int, height: int, rate: Fraction, audio: AudioPath | None) -> None:
        """Set up the encoder and destinations from the first session's parameters (sources call
        this once, while ``ready`` is false)."""
        self._encoder = LiveEncoder(width, height, rate, self.options.kbps)
        self._rate = rate
        self._audio = audio
        self.budget = Budget(interval=float(1 / rate), max_delay=self.options.max_delay)
        for url in self.options.destinations:
            self.destinations.append(Destination(url, self._templates, self._request_keyframe,
                                                 on_latency=self.stats.latency))
        if self.options.record:
            self.destinations.append(Recording(self.options.record, self._templates, self._request_keyframe))
        for d in self.destinations:
            d.start()
        self._ready.set()

    @property
    def has_audio(self) -> bool:
        return self._audio is not None

    def new_session(self) -> None:
        """A publisher (re)connected: its clock will be placed after what was already sent."""
        self._base = None

    def _place(self, ms: int, is_video: bool, arrival: float) -> int:
        if self._base is None or self._discontinuous(ms - self._base, is_video, arrival):
            # A new session, or the same connection now fed by a publisher that reconnected.
            self._base = ms - self._session_start(arrival)
        return ms - self._base

    def video(self, image: np.ndarray, ms: int, arrival: float) -> None:
        """One decoded frame (BGR) with the publisher's timestamp in ms."""
        pts = self._place(ms, True, arrival)
        if self._last_video is not None and pts <= self._last_video:
            pts = self._last_video + 1
        self._last_video = pts
        self._outgoing(pts, arrival)
        self.stats.frames_in.tick(arrival)
        self._frames.put(_Frame(image, pts, arrival))

    def audio(self, packets, arrival: float) -> None:
        """AAC packets (from ``AudioPath``) with the publisher's timestamps."""
        for p in packets:
            dts = p.dts if p.dts is not None else p.pts
            if dts is None:
                continue
            pts = p.pts if p.pts is not None else dts
            out_dts = self._place(_ms(dts, p.time_base), False, arrival)
            if self._last_audio is not None and out_dts <= self._last_audio:
                continue  # overlaps the previous session's audio
            self._last_audio = out_dts
            self._outgoing(out_dts, arrival)
            self._fan_out(Chunk("audio", bytes(p), _ms(pts, p.time_base) - self._base, out_dts, True))

    @property
    def started(self) -> bool:
        """Whether anything has been sent yet."""
        return self._last_ts is not None

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    @property
    def audio_path(self) -> AudioPath | None:
        return self._audio

    def _discontinuous(self, ts: int, is_video: bool, arrival: float) -> bool:
        """Whether the publisher's clock jumped: backwards, or far ahead of the time that passed."""
        last = self._last_video if is_video else self._last_audio
        if last is None:
            return False
        return ts < last - 500 or ts - self._last_ts > (arrival - self._last_arrival) * 1000 + 3000

    def _outgoing(self, ts: int, arrival: float) -> None:
        self._last_ts = ts if self._last_ts is None else max(self._last_ts, ts)
        self._last_arrival = arrival

    def _session_start(self, arrival: float) -> int:
        """Where a publishing session starts on the outgoing timeline: 0 for the first; for a
        publisher that came back, after the last timestamp sent plus the real time it was away."""
        if self._last_ts is None:
            return 0
        return self._last_ts + max(1, int((arrival - self._last_arrival) * 1000))

    # Engine ------------------------------------------------------------------------------------
    def _analyse(self) -> None:
        """Feed each frame to the look-ahead judge, which hands it on ``options.delay`` later with
        its decisions (the encoder thread redacts it as judged). The scheduler says, from how late
        the engine runs, whether a frame is detected, skipped (placed between the detections
        around it) or, too late to judge, redacted whole."""
        enc = self._encoder
        scheduler = Scheduler(self.budget, self.options.stride,
                              analysis_sizes(enc.width, enc.height, self.engine.config.analysis_size))
        judge = Judge(self.engine, window=round(self.options.delay * float(self._rate)))
        modes = {Action.DETECT: Mode.DETECT, Action.COAST: Mode.SKIP, Action.BLANK: Mode.BLANK}
        while True:
            item = self._frames.get()
            if item is None:
                for judged in judge.flush():
                    self._judged(judged)
                self._encode.put(None)
                return
            lag = time.monotonic() - item.arrival
            action = scheduler.choose(lag, self._frames.qsize())
            t0 = time.perf_counter()
            try:
                for judged in judge.push(item.image, item, modes[action], scheduler.analysis_size):
                    self._judged(judged)
            except Exception:  # never let an unjudged frame out
                log.exception("engine failed on a frame; redacting the frames it held whole")
                for pending in judge.abandon():
                    self._judged(pending)
                judge = Judge(self.engine, window=judge.window)
                scheduler.blanked()
                self.stats.count(errors=1)
                continue
            if action is Action.DETECT:
                scheduler.detected(time.perf_counter() - t0)
                if scheduler.reduced:
                    self.stats.count(reduced=1)
                self.stats.count(detect=1)
            elif action is Action.BLANK:
                scheduler.blanked()
            else:
                self.stats.count(coast=1)

    def _judged(self, judged: Judged) -> None:
        item: _Frame = judged.payload
        item.decisions = judged.decisions
        self.privacy.add(judged)
        if judged.decisions is None:
            self.stats.count(frames=1, blank=1)
        else:
            kept = sum(1 for d in judged.decisions if not d.redact)
            self.stats.count(frames=1, faces_redacted=len(judged.decisions) - kept, faces_kept=kept)
        self._encode.put(item)

    # Encoder -----------------------------------------------------------------------------------
    def _redact(self, item: _Frame) -> None:
        style = self.engine.config.style
        try:
            self.engine.redact_decisions(item.image, item.decisions)
        except Exception:  # never let an unredacted frame out
            log.exception("redaction failed on a frame; redacting the whole frame")
            redact_frame(item.image, style)
            self.stats.count(errors=1)

    def _compress(self) -> None:
        enc = self._encoder
        arrivals: dict[int, float] = {}
        while True:
            item = self._encode.get()
            if item is None:
                packets = enc.flush()
            else:
                self._redact(item)
                packets = enc.encode(item.image, item.pts)
                arrivals[item.pts] = item.arrival
                self.last_output = item.image
            for p in packets:
                self._fan_out(Chunk("video", bytes(p), p.pts, p.dts, p.is_keyframe, arrivals.pop(p.pts, None)))
                self.stats.frames_out.tick()
            if item is None:
                return

    # Whole run ---------------------------------------------------------------------------------
    def run(self, status_every: float = 1.0) -> dict:
        """Relay until the publisher is gone for longer than the grace period, or ``stop()``."""
        reader = threading.Thread(target=self._read, name="bystander-ingest", daemon=True)
        reader.start()
        workers: list[threading.Thread] = []
        try:
            next_status = time.monotonic()
            while not self._ready.is_set() and reader.is_alive():
                if time.monotonic() >= next_status:
                    self._status()
                    next_status += status_every
                self._ready.wait(0.2)
            if self._ready.is_set():
                workers = [threading.Thread(target=self._guarded, args=(self._analyse,), name="bystander-engine",
                                            daemon=True),
                           threading.Thread(target=self._guarded, args=(self._compress,), name="bystander-encoder",
                                            daemon=True)]
                for w in workers:
                    w.start()
                while reader.is_alive() and self._error is None:
                    reader.join(0.1)
                    if time.monotonic() >= next_status:
                        self._status()
                        next_status += status_every
        finally:
            self._stopping.set()
            reader.join()
            for w in workers:
                w.join()
            for d in self.destinations:
                d.close()
            if self._encoder:
                self._encoder.close()
            if self._audio:
                self._audio.close()
        if self._error is not None:
            raise self._error
        return self.final()

    def _guarded(self, work) -> None:
        """A worker that fails ends the relay (outputs closed) instead of leaving it hung."""
        try:
            work()
        except BaseException as exc:
            log.exception("relay worker failed")
            self._error = exc
            self._stopping.set()
            _drain(self._frames)
            _drain(self._encode)

    def _status(self) -> None:
        if self.on_status:
            self.on_status(self._snapshot())

    def _snapshot(self) -> dict:
        return {**self.stats.snapshot(self.destinations), "delay_s": self.options.delay}

    def final(self) -> dict:
        s = self._snapshot()
        p50, p95 = self.stats.latency_percentiles(whole_run=True)
        s["latency_ms_p50"] = None if p50 is None else round(p50 * 1000, 1)
        s["latency_ms_p95"] = None if p95 is None else round(p95 * 1000, 1)
        s["privacy"] = self.privacy.as_dict(float(self._rate))
        return s


def _ms(ts: int, time_base: Fraction) -> int:
    return int(round(ts * time_base * 1000))



def _drain(q: queue.Queue) -> None:
    """Empty ``q`` and leave the end marker, so that whoever waits on it finishes."""
    while True:
        try:
            q.get_nowait()
        except queue.Empty:
            break
    q.put_nowait(None)
