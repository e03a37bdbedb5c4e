"""The live output format: one H.264 encoder for every destination, audio as AAC.

The encoder lives in a null container so that its stream can serve as the
template for each destination's stream (parameters and SPS/PPS copied). Audio
that arrives as AAC is copied; anything else (MP3 from some apps, Opus from
browsers) is transcoded to AAC, which is what YouTube and Twitch take.
"""

from __future__ import annotations

from fractions import Fraction

import av
import cv2
import numpy as np

from ..media.frames import yuv420_frame
from .stats import available_cores

TIME_BASE = Fraction(1, 1000)  # FLV's, and so the whole live path's

# YouTube's recommended H.264 bitrates for live streams, upper end of each range, kbit/s (30 fps;
# 60 fps gets 1.5x). Keyed by the smaller side of the picture.
_YOUTUBE_KBPS = ((2160, 35000), (1440, 13000), (1080, 6000), (720, 4000), (480, 2000), (360, 1000), (0, 700))


def youtube_bitrate(width: int, height: int, fps: float) -> int:
    """Recommended bitrate in kbit/s for this resolution and frame rate."""
    short = min(width, height)
    kbps = next(k for size, k in _YOUTUBE_KBPS if short >= size)
    return int(kbps * 1.5) if fps > 40 else kbps


class LiveEncoder:
    """x264 tuned for live: no B-frames or lookahead (zerolatency), constant frame rate,
    a keyframe every ``keyframe_seconds`` and capped bitrate, as YouTube asks."""

    def __init__(self, width: int, height: int, rate: Fraction, kbps: int | None = None,
                 keyframe_seconds: float = 2.0, preset: str | None = None):
        self.width, self.height = width - width % 2, height - height % 2
        self.rate = rate
        self.kbps = kbps or youtube_bitrate(self.width, self.height, float(rate))
        # At YouTube's capped bitrates superfast matches veryfast's quality for ~40 % less CPU (720p
        # Hamilton: 42.86 against 42.91 dB PSNR, 10 against 17 ms a frame; ultrafast 42.29). Above
        # 720p, ultrafast: 1080p costs 13.5 ms a frame against 24.5 for superfast, for 3.7 dB less.
        # On one core, decoding and encoding alone would take half of each frame's time at superfast:
        # ultrafast halves the encoder's share there (720p: 7.8 against 16.1 ms a frame).
        roomy = available_cores() >= 2 and self.width * self.height <= 1280 * 720
        preset = preset or ("superfast" if roomy else "ultrafast")
        self._null = av.open("/dev/null", "w", format="null")
        self.stream = self._null.add_stream("libx264", rate=rate)
        ctx = self.stream.codec_context
        self.stream.width, self.stream.height, self.stream.pix_fmt = self.width, self.height, "yuv420p"
        self.stream.time_base = ctx.time_base = TIME_BASE
        ctx.flags |= int(av.codec.context.Flags.global_header)  # SPS/PPS in extradata, as FLV wants
        ctx.bit_rate = self.kbps * 1000
        gop = max(1, round(float(rate) * keyframe_seconds))
        ctx.gop_size = gop
        self.stream.options = {
            "preset": preset, "tune": "zerolatency",
            "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:"
                           f"vbv-maxrate={self.kbps}:vbv-bufsize={self.kbps * 2}",
        }
        ctx.open()
        self._force_key = False

    @property
    def extradata(self) -> bytes:
        return self.stream.codec_context.extradata

    def request_keyframe(self) -> None:
        """The next frame is encoded as a keyframe (a destination just (re)connected)."""
        self._force_key = True

    def encode(self, image: np.ndarray, pts: int) -> list[av.Packet]:
        if image.shape[0] < self.height or image.shape[1] < self.width or image.shape[0] > self.height + 1 \
                or image.shape[1] > self.width + 1:  # the publisher changed resolution on a reconnect
            image = cv2.resize(image, (self.width, self.height), interpolation=cv2.INTER_AREA)
        frame = yuv420_frame(image[: self.height, : self.width])
        frame.pts, frame.time_base = pts, TIME_BASE
        if self._force_key:
            frame.pict_type = av.video.frame.PictureType.I
            self._force_key = False
        return self.stream.encode(frame)

    def flush(self) -> list[av.Packet]:
        return self.stream.encode(None)

    def close(self) -> None:
        self._null.close()


class AudioPath:
    """Audio to AAC: the ingest's AAC packets pass through, other codecs are transcoded."""

    def __init__(self, source: av.audio.stream.AudioStream | None = None, rate: int = 48000,
                 layout: str = "stereo"):
        """``source``: the ingest's audio stream, copied if AAC, transcoded otherwise. None: an
        encoder for decoded frames at ``rate`` and ``layout`` (WebRTC's Opus, decoded by aiortc)."""
        self._null = av.open("/dev/null", "w", format="null")
        self.copy = source is not None and source.codec_context.name == "aac"
        if self.copy:
            self.stream = self._null.add_stream_from_template(source)
            return
        if source is not None:
            rate, layout = source.codec_context.sample_rate, source.codec_context.layout.name
        self.stream = self._null.add_stream("aac", rate=rate)
        self.stream.layout = layout
        self.stream.time_base = Fraction(1, rate)
        self.stream.codec_context.flags |= int(av.codec.context.Flags.global_header)
        self.stream.codec_context.open()

    def convert(self, item: av.Packet | av.AudioFrame) -> list[av.Packet]:
        """AAC packets for an ingest packet, or for a decoded frame (WebRTC's)."""
        if isinstance(item, av.AudioFrame):
            return self.stream.encode(item)
        packet = item
        if self.copy:
            return [packet]
        out = []
        for frame in packet.decode():
            out += self.stream.encode(frame)
        return out

    def close(self) -> None:
        self._null.close()
