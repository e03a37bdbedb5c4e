"""Shot cuts: when the picture changes at once, tracks say nothing about who is in it now.

Used wherever detection is skipped on some frames (live under load, ``--detect-every``): a
frame that differs too much from the last detected one is detected afresh.
"""

from __future__ import annotations

import cv2
import numpy as np

THRESHOLD = 25.0  # mean absolute difference of 64x36 thumbnails, 0-255


def thumbnail(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    step = max(1, min(h, w) // 72)
    return cv2.resize(image[::step, ::step], (64, 36), interpolation=cv2.INTER_AREA).astype(np.int16)


def is_cut(thumb: np.ndarray, reference: np.ndarray | None) -> bool:
    return reference is None or float(np.abs(thumb - reference).mean()) > THRESHOLD
