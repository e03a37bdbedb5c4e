"""One output of the relay: an RTMP destination (retried with backoff) or a recording file.

Each destination has its own thread and queue, so one that is slow, refuses us or
drops never holds up the ingest or the others. Timestamps are rebased to start at 0
on every (re)connection, at a keyframe; audio that came just before it is kept.
"""

from __future__ import annotations

import collections
import enum
import logging
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import av

from ..media.atomic import atomic_output
from .encode import TIME_BASE
from .secret import mask_url

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Chunk:
    """An encoded packet on its way out, detached from any container."""

    kind: str  # "video" or "audio"
    data: bytes
    pts: int  # milliseconds
    dts: int
    key: bool
    arrival: float | None = None  # monotonic time its source reached the ingest (video only)


class State(enum.Enum):
    CONNECTING = "connecting"
    LIVE = "live"
    RETRYING = "retrying"
    DONE = "done"
    FAILED = "failed"


class Destination:
    """``send`` chunks; ``close`` flushes and ends the stream."""

    def __init__(self, url: str, templates: Callable[[], tuple], on_connect: Callable[[], None] | None = None,
                 label: str | None = None, retry: bool = True, queue_size: int = 300,
                 on_latency: Callable[[float], None] | None = None):
        self.url = url
        self.label = label or mask_url(url)
        self._templates = templates  # () -> (video template stream, audio template stream or None)
        self._on_connect = on_connect
        self._on_latency = on_latency
        self.retry = retry
        self.state = State.CONNECTING
        self.error: str | None = None
        self.retry_at: float | None = None
        self.sent = 0
        self.connections = 0
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"bystander-out-{self.label}", daemon=True)

    def start(self) -> "Destination":
        self._thread.start()
        return self

    def send(self, chunk: Chunk) -> None:
        """Never blocks: the relay's threads (audio from the reader, video from the encoder) both
        call this, and a slow destination must not hold either up."""
        try:
            self._queue.put_nowait(chunk)
            return
        except queue.Full:
            pass
        # The destination cannot keep up: drop what waits and resync at the next keyframe.
        _clear(self._queue)
        for item in (_RESYNC, chunk):
            try:
                self._queue.put_nowait(item)
            except queue.Full:
                return

    def close(self, timeout: float = 10.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout)
        self._stop.set()
        self._thread.join(2)

    def status(self) -> dict:
        out = {"destination": self.label, "state": self.state.value, "sent": self.sent}
        if self.error:
            out["error"] = self.error
        if self.state is State.RETRYING and self.retry_at:
            out["retry_in_s"] = round(max(0.0, self.retry_at - time.monotonic()), 1)
        out["health"] = health(out)
        return out

    def _open(self):
        # FFmpeg's interleaver holds packets until every stream has one, for up to 10 s by default:
        # a stream whose audio starts late (WebRTC's first audio sender report can take seconds)
        # would send nothing meanwhile, and the server drops an idle publisher. Live waits 0.5 s.
        return av.open(self.url, "w", format="flv", timeout=(5.0, 10.0), options=_LIVE_MUX)

    def _run(self) -> None:
        backoff = 1.0
        while not self._stop.is_set():
            self.state = State.CONNECTING
            try:
                self._session()
                self.state = State.DONE
                return
            except (av.error.FFmpegError, OSError) as exc:
                if self.state is State.LIVE:  # it had worked: the next try comes soon again
                    backoff = 1.0
                self.error = _describe(exc, self.url)
                log.warning("%s: %s", self.label, self.error)
                if not self.retry:
                    self.state = State.FAILED
                    return
                self.state = State.RETRYING
                self.retry_at = time.monotonic() + backoff
                self._drain_for(backoff)
                backoff = min(backoff * 2, 30.0)

    def _drain_for(self, seconds: float) -> None:
        """Wait out the backoff, discarding what arrives (it would be stale), unless we are closed."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                item = self._queue.get(timeout=left)
            except queue.Empty:
                return
            if item is None:
                self._stop.set()
                return

    def _session(self) -> None:
        """One connection, until the relay closes us; raises on a connection error."""
        container = self._open()
        try:
            video_t, audio_t = self._templates()
            vs = container.add_stream_from_template(video_t)
            vs.codec_context.extradata = video_t.codec_context.extradata
            vs.time_base = TIME_BASE
            aus = None
            if audio_t is not None:
                aus = container.add_stream_from_template(audio_t)
                if audio_t.codec_context.extradata:
                    aus.codec_context.extradata = audio_t.codec_context.extradata
                aus.time_base = TIME_BASE
            self.connections += 1
            _clear(self._queue)
            if self._on_connect:
                self._on_connect()
            offset = None
            early_audio: collections.deque = collections.deque(maxlen=64)
            while True:
                item = self._queue.get()
                if item is None:
                    return
                if item is _RESYNC:
                    offset = None
                    early_audio.clear()
                    continue
                if offset is None:
                    if item.kind == "audio":
                        early_audio.append(item)
                        continue
                    if not item.key:
                        continue
                    # The keyframe goes first: FLV refuses any packet older than the first one
                    # written, and the audio waiting here is newer (it does not wait for the judge).
                    offset = item.dts
                    self._mux(container, vs, item, offset)
                    if self._on_latency and item.arrival is not None:
                        self._on_latency(time.monotonic() - item.arrival)
                    for a in early_audio:
                        if aus is not None and a.dts >= offset:
                            self._mux(container, aus, a, offset)
                    early_audio.clear()
                    self.state, self.error = State.LIVE, None
                    log.info("%s: live", self.label)
                    continue
                if item.kind == "audio":
                    if aus is not None and item.dts >= offset:
                        self._mux(container, aus, item, offset)
                else:
                    self._mux(container, vs, item, offset)
                    if self._on_latency and item.arrival is not None:
                        self._on_latency(time.monotonic() - item.arrival)
        finally:
            try:
                container.close()
            except (av.error.FFmpegError, OSError):
                pass

    def _mux(self, container, stream, chunk: Chunk, offset: int) -> None:
        p = av.Packet(chunk.data)
        p.pts, p.dts = chunk.pts - offset, chunk.dts - offset
        p.time_base = TIME_BASE
        p.is_keyframe = chunk.key
        p.stream = stream
        container.mux(p)
        self.sent += 1


class Recording(Destination):
    """``--record``: the same stream into a local file, written atomically, never retried."""

    def __init__(self, path: Path, templates, on_connect=None):
        super().__init__(str(path), templates, on_connect, label=f"record {path.name}", retry=False)
        self.path = path
        self._atomic = None

    def _open(self):
        self._atomic = atomic_output(self.path)
        tmp = self._atomic.__enter__()
        return av.open(str(tmp), "w", format=_format_for(self.path), options=_LIVE_MUX)

    def _session(self) -> None:
        try:
            super()._session()
        except BaseException as exc:
            if self._atomic is not None:
                self._atomic.__exit__(type(exc), exc, exc.__traceback__)
            raise
        self._atomic.__exit__(None, None, None)


def _format_for(path: Path) -> str | None:
    return {".flv": "flv", ".mkv": "matroska", ".mov": "mov", ".mp4": "mp4", ".ts": "mpegts"}.get(
        path.suffix.lower())


_RESYNC = object()
_LIVE_MUX = {"max_interleave_delta": "500000"}


def _clear(q: queue.Queue) -> None:
    while True:
        try:
            item = q.get_nowait()
        except queue.Empty:
            return
        if item is None:  # a close that came while connecting: keep it
            q.put_nowait(None)
            return


def health(status: dict) -> str:
    """A destination's state in the streamer's words, with the reason where it is not live."""
    state, error = State(status["state"]), status.get("error")
    why = f" ({error})" if error else ""
    if state is State.RETRYING:
        again = f"retrying in {status['retry_in_s']:.0f} s" if "retry_in_s" in status else "retrying"
        return f"not reaching the server, {again}{why}"
    if state is State.CONNECTING:
        return f"connecting again{why}" if error else "connecting"
    if state is State.FAILED:
        return f"stopped{why}"
    return "live" if state is State.LIVE else "ended"


def _describe(exc: BaseException, url: str) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return text.replace(url, mask_url(url))
