"""What this machine can relay: the costs measured before a stream, and the picture size they allow.

Decoding and encoding grow with the picture, and a 1080p stream can take more than a slow machine
has before any face is looked for: then no schedule of the detector keeps up, and every frame goes
out blurred whole. The relay decides the size it sends once, on the first frame, because the
destinations take one size for the whole stream: the publisher's own when the measured costs fit,
else a smaller standard size, with the streamer told (``LiveStats.machine``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from fractions import Fraction

import av
import cv2
import numpy as np

from .encode import LiveEncoder
from .stats import available_cores

MEASURE_FRAMES = 24  # the first few are not counted: x264's keyframe and its buffers
# The whole relay's work on a frame (reading it from the ingest, judging, redacting, handing it on,
# the ingest server beside it) against the decode and encode measured on the warm-up's synthetic
# stream, whose content is easier than a camera's: measured at 1080p on one core.
RELAY_OVERHEAD = 1.7
# The share of the cores the relay may plan to fill: the rest absorbs the publisher's bursts, a
# detection that costs more than its median, whatever else the machine runs, and its clock: a
# warm-up on one core once read a quarter faster than the stream then ran. Stepping down costs
# picture; not stepping down where it was needed blurs every frame.
FIT_SHARE = 0.75
# Sizes the relay steps down to, by height; never below 720, where detection itself can step down.
STEP_HEIGHTS = (1080, 720)


@dataclass(frozen=True)
class Capacity:
    detection: dict[int | None, float]  # seconds of one detection, by analysis size
    media: float  # seconds to decode, convert and encode a frame, per pixel
    cores: int

    def frame_cost(self, width: int, height: int, stride: int) -> float:
        """Seconds of the machine one frame of this size takes, detected every ``stride`` frames on
        the cheapest analysis size."""
        detect = min(self.detection.values(), default=0.0)
        return RELAY_OVERHEAD * self.media * width * height + detect / stride

    def allowance(self, rate: Fraction | float) -> float:
        """Seconds of the machine a frame may take at ``rate``."""
        return FIT_SHARE * self.cores / float(rate)

    def fits(self, width: int, height: int, rate: Fraction | float, stride: int) -> bool:
        return self.frame_cost(width, height, stride) <= self.allowance(rate)

    def output_size(self, width: int, height: int, rate: Fraction | float, stride: int) -> tuple[int, int]:
        """The publisher's size if this machine keeps up with it, else the largest step down that
        fits (720 high at the least), with the same shape."""
        if height <= STEP_HEIGHTS[-1] or self.fits(width, height, rate, stride):
            return width, height
        for step in STEP_HEIGHTS:
            if step < height:
                w, h = scaled(width, height, step)
                if step == STEP_HEIGHTS[-1] or self.fits(w, h, rate, stride):
                    return w, h
        return width, height


def scaled(width: int, height: int, to_height: int) -> tuple[int, int]:
    """``width`` x ``height`` scaled to ``to_height``, the width kept even (H.264's 4:2:0)."""
    return round(width * to_height / height / 2) * 2, to_height


def measure(detection: dict[int | None, float], size: tuple[int, int]) -> Capacity:
    """Encode and decode a short synthetic stream of ``size`` as live does (the encoder's preset for
    pictures over 720p), and add the detection costs the engine's warm-up measured."""
    w, h = size
    # Smooth texture moving a few pixels a frame: motion search and residuals, as a camera gives.
    rng = np.random.default_rng(0)
    texture = cv2.GaussianBlur(rng.integers(0, 256, (h + MEASURE_FRAMES, w + 2 * MEASURE_FRAMES, 3), np.uint8),
                               (0, 0), 3)
    encoder = LiveEncoder(w, h, Fraction(30), preset="ultrafast")
    decoder = av.CodecContext.create("h264", "r")
    decoder.extradata = encoder.extradata
    spent, counted = 0.0, 0
    try:
        for i in range(MEASURE_FRAMES):
            image = np.ascontiguousarray(texture[i:i + h, 2 * i:2 * i + w])
            started = time.perf_counter()
            for packet in encoder.encode(image, i * 33):
                for frame in decoder.decode(packet):
                    frame.to_ndarray(format="bgr24")
            if i >= MEASURE_FRAMES // 3:
                spent += time.perf_counter() - started
                counted += 1
    finally:
        encoder.close()
    return Capacity(dict(detection), spent / counted / (w * h), available_cores())
