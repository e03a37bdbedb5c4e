"""The live relay: the wiring from a source through the judge and the encoder to every destination.

Four kinds of thread, joined by short queues:
- the reader takes the source's events (``source.Source``), places them on the outgoing
  timeline (``timeline.Timeline``) and hands audio straight to the outputs;
- the engine thread judges each frame (``judging.Judging``: the look-ahead judge on the live schedule);
- the encoder thread redacts it as judged and compresses it once for all destinations
  (``compress.Compressor``);
- each destination writes at its own pace (``destination.Destination``).

The outputs open on the first decoded frame, whose size they take, or a smaller one where this
machine cannot keep up with it (``capacity``); the source then decodes to that size, and a publisher
that later sends another size is scaled to it.
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

from ..engine import Engine
from ..engine.report import PrivacyReport
from . import capacity
from .capacity import Capacity
from .compress import Compressor
from .destination import Chunk, Destination, Recording
from .encode import AudioPath, LiveEncoder
from .judging import SESSION_END, Frame, Judging, look_ahead
from .schedule import Budget, analysis_sizes
from .source import DEFAULT_RATE, Audio, Ended, Session, Source, Video
from .stats import LiveStats, Output
from .timeline import Timeline

# The models warm up before the source is read, and decoding and encoding are timed, at the size most
# streams come in; a 1080p stream is detected at the same 1280 px.
WARM_UP_SIZE = (1280, 720)

log = logging.getLogger(__name__)


def warm_up(engine: Engine) -> Capacity:
    """The models' first runs, paid before a publisher comes rather than on its first frames (over a
    second on one slow core, where they went out redacted whole), and what this machine can relay:
    a detection's seconds by analysis size, which the live schedule starts from, and the cost of
    decoding and encoding, which decides the size sent. Best before the ingest listens: a publisher
    that connects meanwhile is otherwise read a second late, and its frames arrive as a burst."""
    costs = engine.warm_up(WARM_UP_SIZE, analysis_sizes(*WARM_UP_SIZE, engine.config.analysis_size))
    return capacity.measure(costs, WARM_UP_SIZE)


@dataclass
class RelayOptions:
    destinations: list[str]
    record: Path | None = None
    kbps: int | None = None
    max_delay: float = 0.25  # a frame not analysed this long after it arrived is redacted whole
    delay: float = 0.5  # how far the output runs behind the input: the judge's look-ahead
    stride: int | None = None  # frames per detection; None adapts to the machine
    max_height: int | None = None  # frames higher than this are scaled down to it before anything else
    # (and, whatever it says, to a size this machine keeps up with)


class Relay:
    def __init__(self, engine: Engine, source: Source, options: RelayOptions,
                 on_status: Callable[[dict], None] | None = None,
                 capacity: Capacity | None = None):
        """``capacity``: what ``warm_up`` returned, if the caller warmed the engine up already."""
        self.engine = engine
        self.source = source
        self.options = options
        self.stats = LiveStats()
        self.on_status = on_status
        self.timeline = Timeline()
        self.privacy = PrivacyReport()
        self.destinations: list[Destination] = []
        self._frames: queue.Queue = queue.Queue(maxsize=30)
        self._encode: queue.Queue = queue.Queue(maxsize=8)
        self._stopping = threading.Event()
        self._ready = threading.Event()  # encoder and audio templates exist
        self._session: Session | None = None
        self._encoder: LiveEncoder | None = None
        self._judging: Judging | None = None
        self._compressor: Compressor | None = None
        self._audio: AudioPath | None = None
        self._size: tuple[int, int] | None = None  # (w, h) of every frame judged and encoded
        self._rate = DEFAULT_RATE
        self._error: BaseException | None = None
        self._capacity = capacity

    @property
    def last_output(self) -> np.ndarray | None:
        """The latest redacted frame, for a preview."""
        return self._compressor.last_output if self._compressor else None

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
                        self._frames.put(SESSION_END)
        except BaseException as exc:  # surfaced by run()
            self._error = exc
        finally:
            self._frames.put(None)

    def _video(self, v: Video) -> None:
        if not self._ready.is_set():
            session = self._session or Session(DEFAULT_RATE, None)
            w, h = self._output_size(v.image.shape[1], v.image.shape[0], session.rate)
            self.source.frame_size = (w, h)
            self._open_outputs(w, h, session.rate, session.audio() if session.audio else None)
        image = v.image
        if (image.shape[1], image.shape[0]) != self._size:  # decoded before the size was chosen
            image = cv2.resize(image, self._size, interpolation=cv2.INTER_AREA)
        pts = self.timeline.video(v.ms, v.arrival)
        self.stats.frames_in.tick(v.arrival)
        self._frames.put(Frame(image, pts, v.arrival))

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

    def _stride(self, rate: Fraction) -> int:
        """The most frames per detection: longer runs of coasted frames only where the look-ahead
        places them between detections, and there as many as a slow machine's detection cost asks."""
        return min(Budget.late_stride, max(Budget.max_stride, look_ahead(self.options.delay, rate)))

    def _output_size(self, width: int, height: int, rate: Fraction) -> tuple[int, int]:
        """The size every frame is sent at: the publisher's, under ``max_height``, stepped down
        further where this machine cannot keep up with it (the streamer is told)."""
        if self.options.max_height and height > self.options.max_height:
            width, height = capacity.scaled(width, height, self.options.max_height)
        cap, stride = self._capacity, self._stride(rate)
        w, h = cap.output_size(width, height, rate, stride) if cap else (width, height)
        # What decided it, for whoever wonders why (the --stats-json line shows it).
        estimate = (round(cap.frame_cost(width, height, stride) * 1000, 1),
                    round(cap.allowance(rate) * 1000, 1)) if cap else (None, None)
        self.stats.output = Output(w, h, float(rate), height if h < height else None, *estimate)
        if h < height:
            log.warning("this machine cannot keep up with %dp at %.0f fps: sending %dp", height, float(rate), h)
        return w, h

    def _open_outputs(self, width: int, height: int, rate: Fraction, audio: AudioPath | None) -> None:
        """The encoder and destinations, set up once from the first frame and its session."""
        self._encoder = LiveEncoder(width, height, rate, self.options.kbps)
        self._size, self._rate, self._audio = (width, height), rate, audio
        window = look_ahead(self.options.delay, rate)
        stride = self._stride(rate)
        budget = Budget(interval=float(1 / rate), max_delay=self.options.max_delay, max_stride=stride,
                        late_stride=stride)
        self._judging = Judging(self.engine, budget, self.options.stride, (self._encoder.width, self._encoder.height),
                                window, self.stats, self.privacy,
                                self._capacity.detection if self._capacity else None)
        self._compressor = Compressor(self.engine, self._encoder, self._fan_out, self.stats, self.privacy)
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

    # Whole run ---------------------------------------------------------------------------------
    def run(self, status_every: float = 1.0) -> dict:
        """Relay until the publisher is gone for longer than the grace period, or ``stop()``."""
        reader = threading.Thread(target=self._read, name="bystander-ingest", daemon=True)
        workers: list[threading.Thread] = []
        try:
            # On this thread, not the caller's, where the caller has not (the web app builds a
            # relay on its event loop).
            if self._capacity is None:
                self._capacity = warm_up(self.engine)
            reader.start()
            next_status = time.monotonic()
            while not self._ready.is_set() and reader.is_alive():
                if time.monotonic() >= next_status:
                    self._status()
                    next_status += status_every
                self._ready.wait(0.2)
            if self._ready.is_set():
                workers = [threading.Thread(target=self._guarded, args=(self._judging.run, self._frames, self._encode),
                                            name="bystander-engine", daemon=True),
                           threading.Thread(target=self._guarded, args=(self._compressor.run, self._encode),
                                            name="bystander-encoder", daemon=True)]
                for w in workers:
                    w.start()
                while reader.is_alive() and self._error is None:
                    reader.join(0.1)
                    if time.monotonic() >= next_status:
                        self._status()
                        next_status += status_every
        finally:
            self.stop()
            if reader.ident is not None:
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

    def _guarded(self, work, *queues: queue.Queue) -> None:
        """A worker that fails ends the relay (outputs closed) instead of leaving it hung."""
        try:
            work(*queues)
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
