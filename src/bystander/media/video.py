"""Video files in and out with PyAV, the timeline untouched.

Every output frame carries its input frame's timestamp, in the input's time
base, so variable frame rates, start offsets and durations survive as they
are; audio packets are copied as they are (or transcoded to AAC when the output
container cannot hold the input codec), so they stay in sync. Frames stream
through: memory does not grow with the file's length.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator

import av
import cv2
import numpy as np

from ..errors import BystanderError, InputError
from .frames import yuv420_frame
from .input_file import require_file

log = logging.getLogger(__name__)

X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow",
                "placebo")


@dataclass
class DecodedFrame:
    image: np.ndarray  # BGR, upright
    pts: int  # in ``time_base``
    time_base: Fraction
    index: int

    @property
    def seconds(self) -> float:
        return float(self.pts * self.time_base)


@dataclass
class Damage:
    index: int  # frames decoded before the damage
    seconds: float | None
    message: str

    def __str__(self) -> str:
        at = f"{self.seconds:.2f} s" if self.seconds is not None else "unknown time"
        return f"damaged video at frame {self.index} ({at}): {self.message}"


def _upright(image: np.ndarray, rotation: int) -> np.ndarray:
    """Apply the display matrix's rotation (counter-clockwise degrees), as players do."""
    turn = (-rotation) % 360
    if turn == 90:
        return cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE)
    if turn == 180:
        return cv2.rotate(image, cv2.ROTATE_180)
    if turn == 270:
        return cv2.rotate(image, cv2.ROTATE_90_COUNTERCLOCKWISE)
    return image


class FramesTooLarge(InputError):
    """A video whose frames are over the pixel limit: refused from its header, before any decoding."""


def open_input(path: Path, max_pixels: int | None = None,
               raise_limit: str = "raise it with --max-pixels") -> av.container.InputContainer:
    """The input, opened; with ``max_pixels``, refused if its frames are larger (``FramesTooLarge``)."""
    path = require_file(path, "video")
    try:
        # A damaged tag is no reason to refuse the video: its text is only copied on, never interpreted.
        container = av.open(str(path), mode="r", metadata_errors="replace")
    except av.error.FFmpegError as exc:
        raise InputError(f"{path}: not a video bystander can read, or corrupt ({exc.strerror or exc})") from None
    if not container.streams.video:
        container.close()
        raise InputError(f"{path}: has no video stream")
    ctx = container.streams.video[0].codec_context
    if not ctx.width or not ctx.height:
        container.close()
        raise InputError(f"{path}: not a video bystander can read (no frame size)")
    if max_pixels is not None and ctx.width * ctx.height > max_pixels:
        container.close()
        raise FramesTooLarge(f"{path}: frames of {ctx.width}x{ctx.height} are larger than the limit of "
                             f"{max_pixels} pixels a frame ({raise_limit})")
    return container


# Container tags that describe the file rather than what it shows: the muxer writes its own.
_FORMAT_TAGS = {"major_brand", "minor_version", "compatible_brands", "encoder"}


def file_metadata(container: av.container.InputContainer) -> dict[str, str]:
    """The input's own tags (creation time, place, camera, title) for ``--keep-metadata``."""
    return {k: v for k, v in container.metadata.items() if k.lower() not in _FORMAT_TAGS}


def write_metadata(container: av.container.OutputContainer, metadata: dict[str, str] | None,
                   container_format: str | None) -> None:
    """Set ``metadata`` on an output about to be written, with the muxer option it needs: MP4 and
    MOV keep tags outside their short standard list only as metadata keys."""
    if not metadata:
        return
    container.metadata.update(metadata)
    if container_format in ("mp4", "mov"):
        container.options["movflags"] = "use_metadata_tags"


class VideoReader:
    """Demuxes one input: video frames decoded and upright, audio packets handed on untouched."""

    def __init__(self, container: av.container.InputContainer):
        self.container = container
        self.video = container.streams.video[0]
        self.audio = container.streams.audio[0] if container.streams.audio else None
        self.video.thread_type = "AUTO"
        self.damage: list[Damage] = []
        self.decoded = 0

    @property
    def time_base(self) -> Fraction:
        return self.video.time_base

    @property
    def rate(self) -> Fraction:
        return self.video.average_rate or self.video.guessed_rate or Fraction(30)

    @property
    def expected_frames(self) -> int | None:
        if self.video.frames:
            return self.video.frames
        if self.video.duration and self.video.time_base:
            return int(round(float(self.video.duration * self.video.time_base * self.rate)))
        return None

    def seek(self, pts: int, index: int) -> None:
        """Start decoding at the keyframe at ``pts``, the file's frame ``index``, not at the start."""
        try:
            self.container.seek(pts, stream=self.video, backward=True, any_frame=False)
        except av.error.FFmpegError as exc:
            raise InputError(f"cannot seek to {float(pts * self.time_base):.2f} s ({exc.strerror or exc})") from None
        self.decoded = index

    def _damaged(self, exc: Exception, last_pts: int | None) -> None:
        seconds = float(last_pts * self.time_base) if last_pts is not None else None
        d = Damage(self.decoded, seconds, getattr(exc, "strerror", None) or str(exc))
        self.damage.append(d)
        log.warning("%s", d)

    def frames(self, on_audio: Callable[[av.Packet], None], prefetch: int = 0) -> Iterator[DecodedFrame]:
        """Decoded video frames in order; audio packets go to ``on_audio`` as they come (on the
        caller's thread). With ``prefetch``, decoding runs that many items ahead on its own thread."""
        items = self._items()
        if prefetch:
            items = in_background(items, prefetch)
        for item in items:
            if isinstance(item, DecodedFrame):
                yield item
            else:
                on_audio(item)

    def _items(self) -> Iterator[DecodedFrame | av.Packet]:
        streams = [self.video] + ([self.audio] if self.audio else [])
        tb = self.time_base
        last_pts = None
        step = max(1, int(round(1 / (self.rate * tb)))) if tb else 1
        demux = self.container.demux(*streams)
        while True:
            try:
                packet = next(demux)
            except StopIteration:
                break
            except av.error.FFmpegError as exc:
                self._damaged(exc, last_pts)
                break
            if packet.stream is self.audio:
                if packet.dts is not None:
                    yield packet
                continue
            try:
                frames = packet.decode()
            except av.error.FFmpegError as exc:
                self._damaged(exc, last_pts)
                continue
            for frame in frames:
                pts = frame.pts
                if pts is None:
                    pts = 0 if last_pts is None else last_pts + step
                if last_pts is not None and pts <= last_pts:
                    pts = last_pts + 1  # the encoder needs strictly increasing timestamps
                image = _upright(frame.to_ndarray(format="bgr24"), frame.rotation)
                yield DecodedFrame(image, pts, tb, self.decoded)
                last_pts = pts
                self.decoded += 1


def in_background(items: Iterator, depth: int) -> Iterator:
    """``items`` produced on a thread of its own, at most ``depth`` ahead of the consumer
    (FFmpeg's decoding and conversion release the GIL). An error there is raised here, in order.
    The producer stops when the consumer does."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def hand_on(entry) -> bool:
        while not stop.is_set():
            try:
                q.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not hand_on((item, None)):
                    return
            hand_on((done, None))
        except BaseException as exc:
            hand_on((done, exc))

    thread = threading.Thread(target=produce, name="bystander-reader", daemon=True)
    thread.start()
    try:
        while True:
            item, exc = q.get()
            if item is done:
                if exc is not None:
                    raise exc
                return
            yield item
    finally:
        stop.set()
        thread.join()


class AudioOut:
    """The input's audio in an output container: copied as it is, or transcoded to AAC where the
    container cannot hold its codec (G.711 mu-law in MP4, say)."""

    def __init__(self, container: av.container.OutputContainer, audio: av.audio.stream.AudioStream):
        if audio.codec_context is None:
            raise InputError("the input's audio stream names no codec FFmpeg knows (damaged file?)")
        name = audio.codec_context.name
        self.transcode = name not in container.supported_codecs
        if not self.transcode:
            self.stream = container.add_stream_from_template(audio)
            return
        ctx = audio.codec_context
        if not ctx.sample_rate or ctx.layout is None:
            raise InputError(f"the input's {name} audio has no sample rate or channel layout (damaged file?)")
        self.stream = container.add_stream("aac", rate=ctx.sample_rate)
        self.stream.layout = ctx.layout.name

    def packets(self, packet: av.Packet) -> list[av.Packet]:
        """What to mux for one input packet."""
        if not self.transcode:
            packet.stream = self.stream
            return [packet]
        try:
            frames = packet.decode()
        except av.error.FFmpegError as exc:
            raise InputError(f"the input's audio cannot be decoded for transcoding (damaged file?): {exc}") from None
        return [p for frame in frames for p in self.stream.encode(frame)]

    def flush(self) -> list[av.Packet]:
        return self.stream.encode(None) if self.transcode else []


class VideoWriter:
    """H.264 (libx264) out, the input's timestamps kept; audio copied or transcoded to AAC."""

    def __init__(self, path: Path, width: int, height: int, time_base: Fraction, rate: Fraction,
                 audio: av.audio.stream.AudioStream | None, crf: int = 20, preset: str = "veryfast",
                 container_format: str | None = None, metadata: dict[str, str] | None = None):
        self.path = Path(path)
        self.container = av.open(str(path), mode="w", format=container_format)
        write_metadata(self.container, metadata, container_format)
        even = width % 2 == 0 and height % 2 == 0
        self.video = self.container.add_stream("libx264", rate=rate)
        self.video.width, self.video.height = width, height
        self.video.pix_fmt = "yuv420p" if even else "yuv444p"
        self._yuv420 = even
        self.video.time_base = time_base
        self.video.codec_context.time_base = time_base
        self.video.options = {"crf": str(crf), "preset": preset}
        self.audio = AudioOut(self.container, audio) if audio is not None else None

    def _mux(self, packets) -> None:
        try:
            self.container.mux(packets)
        except av.error.ArgumentError as exc:
            # The muxer checks what the input handed on (timestamps above all): a damaged input.
            raise InputError(f"the input's streams cannot be written as they are (damaged file?): {exc}") from None
        except OSError as exc:  # a full disk, a file size limit
            raise BystanderError(f"{self.path}: cannot write the output ({exc.strerror or exc})") from None

    def write_audio(self, packet: av.Packet) -> None:
        if self.audio is not None:
            self._mux(self.audio.packets(packet))

    def write(self, image: np.ndarray, pts: int, time_base: Fraction) -> None:
        frame = yuv420_frame(image) if self._yuv420 else av.VideoFrame.from_ndarray(image, format="bgr24")
        frame.pts = pts
        frame.time_base = time_base
        self._mux(self.video.encode(frame))

    def finish(self) -> None:
        """Flush the encoders; the file is complete once the writer is closed."""
        self._mux(self.video.encode(None))
        if self.audio is not None:
            self._mux(self.audio.flush())

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.container.close()
        except av.error.FFmpegError as error:
            if exc[0] is None:
                # Closing writes the index: a full disk shows up here too.
                raise BystanderError(f"{self.path}: cannot write the output ({error.strerror or error})") from None


INTERRUPTED_WAIT = 10.0  # s the writer has to finish its frames when the run fails or is stopped


class BackgroundWriter:
    """Runs a ``VideoWriter`` on its own thread, so encoding overlaps the engine's work on the
    next frames (x264 and onnxruntime both release the GIL). The queue is short and bounded:
    memory stays flat, and an error in the writer surfaces at the next call."""

    def __init__(self, writer: VideoWriter, depth: int = 4):
        self.writer = writer
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="bystander-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            if self._error is not None:
                continue
            try:
                job()
            except BaseException as exc:  # handed to the caller's thread
                self._error = exc

    def _put(self, job) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(job)

    def write(self, image: np.ndarray, pts: int, time_base: Fraction) -> None:
        self._put(lambda: self.writer.write(image, pts, time_base))

    def write_audio(self, packet: av.Packet) -> None:
        self._put(lambda: self.writer.write_audio(packet))

    def finish(self) -> None:
        self._put(self.writer.finish)
        self._stop()
        if self._error is not None:
            raise self._error

    def _stop(self, wait: float | None = None) -> bool:
        """End the writer thread once it has done what was asked; whether it has (within ``wait``)."""
        if self._thread.is_alive():
            try:
                self._queue.put(None, timeout=wait)
            except queue.Full:
                return False
            self._thread.join(wait)
        return not self._thread.is_alive()

    def __enter__(self) -> "BackgroundWriter":
        return self

    def __exit__(self, *exc) -> None:
        # On the way out of an error or an interrupt, the wait is bounded: Ctrl-C or SIGTERM raised
        # inside one of the queue's own waits can leave it unable to wake the writer (a SIGTERM left a
        # run hanging there). The output is then abandoned unclosed; its part file is removed anyway.
        if self._stop(None if exc[0] is None else INTERRUPTED_WAIT):
            self.writer.__exit__(*exc)
