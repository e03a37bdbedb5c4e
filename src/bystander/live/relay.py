"""The live relay: the wiring from a source through the judge and the encoder to every destination.

Four kinds of thread, joined by short queues:
- the reader takes the source's events (``source.Source``), places them on the outgoing
  timeline (``timeline.Timeline``) and hands audio straight to the outputs;
- the engine thread judges each frame (``schedule.Scheduler``, ``engine.judge.Judge``);
- the encoder thread redacts it as judged and compresses it once for all destinations (redaction
  there keeps the engine thread free for the next frame's detection);
- each destination writes at its own pace (``destination.Destination``).

The outputs open on the first decoded frame, whose size they take; a publisher that later sends
another size is scaled to it.
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

import cv2
import numpy as np

from ..engine import Engine, redact_frame
from ..engine.judge import Judge, Judged, Mode
from ..engine.report import PrivacyReport
from .destination import Chunk, Destination, Recording
from .encode import AudioPath, LiveEncoder
from .schedule import Action, Budget, Scheduler, analysis_sizes
from .source import DEFAULT_RATE, Audio, Ended, Session, Source, Video
from .stats import LiveStats
from .timeline import Timeline

log = logging.getLogger(__name__)


@dataclass
class RelayOptions:
    destinations: list[str]
    record: Path | None = None
    kbps: int | None = None
    max_delay: float = 0.25  # a frame not analysed this long after it arrived is redacted whole
    delay: float = 0.5  # how far the output runs behind the input: the judge's look-ahead
    stride: int | None = None  # frames per detection; None adapts to the machine


_SESSION_END = object()  # in the frame queue: the publisher left


@dataclass
class _Frame:
    image: np.ndarray
    pts: int  # ms on the outgoing timeline
    arrival: float
    # What the judge decided; None (until judged, or not judged in time): the whole frame is redacted.
    decisions: list | None = None


class Relay:
    def __init__(self, engine: Engine, source: Source, options: RelayOptions,
                 on_status: Callable[[dict], None] | None = None):
        self.engine = engine
        self.source = source
        self.options = options
        self.stats = LiveStats()
        self.on_status = on_status
        self.timeline = Timeline()
        self.privacy = PrivacyReport()
        self.destinations: list[Destination] = []
        self.last_output: np.ndarray | None = None  # the latest redacted frame, for a preview
        self._frames: queue.Queue = queue.Queue(maxsize=30)
        self._encode: queue.Queue = queue.Queue(maxsize=8)
        self._stopping = threading.Event()
        self._ready = threading.Event()  # encoder and audio templates exist
        self._session: Session | None = None
        self._encoder: LiveEncoder | None = None
        self._audio: AudioPath | None = None
        self._size: tuple[int, int] | None = None  # (w, h) of every frame judged and encoded
        self._rate = DEFAULT_RATE
        self._error: BaseException | None = None

    def stop(self) -> None:
        self._stopping.set()
        self.source.close()

    # Reader: the source's events, on their own thread --------------------------------------------
    def _read(self) -> None:
        try:
            for event in self.source.events():
                if self._stopping.is_set():
                    break
                if isinstance(event, Video):
                    self._video(event)
                elif isinstance(event, Audio):
                    self._audio_in(event)
                elif isinstance(event, Session):
                    self._session = event
                    self.timeline.new_session()
                    self.stats.ingest = "live"
                elif isinstance(event, Ended):
                    self.stats.ingest = "reconnecting"
                    if self._ready.is_set():
                        self._frames.put(_SESSION_END)
        except BaseException as exc:  # surfaced by run()
            self._error = exc
        finally:
            self._frames.put(None)

    def _video(self, v: Video) -> None:
        if not self._ready.is_set():
            h, w = v.image.shape[:2]
            session = self._session or Session(DEFAULT_RATE, None)
            self._open_outputs(w, h, session.rate, session.audio() if session.audio else None)
        image = v.image
        if (image.shape[1], image.shape[0]) != self._size:  # the publisher changed resolution
            image = cv2.resize(image, self._size, interpolation=cv2.INTER_AREA)
        pts = self.timeline.video(v.ms, v.arrival)
        self.stats.frames_in.tick(v.arrival)
        self._frames.put(_Frame(image, pts, v.arrival))

    def _audio_in(self, a: Audio) -> None:
        if self._audio is None:  # no outputs yet, or a stream without audio
            return
        for p in self._audio.convert(a.item):
            dts = p.dts if p.dts is not None else p.pts
            if dts is None:
                continue
            pts = p.pts if p.pts is not None else dts
            placed = self.timeline.audio(_ms(dts, p.time_base), _ms(pts, p.time_base), a.arrival)
            if placed is not None:  # None: it overlaps the previous session's audio
                self._fan_out(Chunk("audio", bytes(p), placed[0], placed[1], True))

    def _open_outputs(self, width: int, height: int, rate: Fraction, audio: AudioPath | None) -> None:
        """The encoder and destinations, set up once from the first frame and its session."""
        self._encoder = LiveEncoder(width, height, rate, self.options.kbps)
        self._size, self._rate, self._audio = (width, height), rate, audio
        self.budget = Budget(interval=float(1 / rate), max_delay=self.options.max_delay)
        for url in self.options.destinations:
            self.destinations.append(Destination(url, self._templates, self._request_keyframe,
                                                 on_latency=self.stats.latency))
        if self.options.record:
            self.destinations.append(Recording(self.options.record, self._templates, self._request_keyframe))
        for d in self.destinations:
            d.start()
        self._ready.set()

    def _templates(self):
        return self._encoder.stream, (self._audio.stream if self._audio else None)

    def _request_keyframe(self) -> None:
        if self._encoder is not None:
            self._encoder.request_keyframe()

    def _fan_out(self, chunk: Chunk) -> None:
        for d in self.destinations:
            d.send(chunk)

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
            if item is _SESSION_END:  # the publisher's last frames go out now, not after --grace
                for judged in judge.flush():
                    self._judged(judged)
                judge = Judge(self.engine, window=judge.window)
                continue
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
            self.stop()
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
            self.stop()
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
