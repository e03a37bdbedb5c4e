"""Redaction: make a face region unrecognisable, in place.

Each face gets a padded ellipse (or box) that covers the hairline and chin and
the detector's whole box; the mask is feathered outward
only, so the whole padded region is fully redacted and the edge blends in.
Every style destroys the information rather than hiding it: ``blur`` first
reduces the region to a handful of pixels, so it cannot be sharpened back; the sticker styles
lay their picture over a blurred face, so whatever the picture leaves transparent is blurred too.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import Enum

import cv2
import numpy as np


class Style(str, Enum):
    BLUR = "blur"
    PIXELATE = "pixelate"
    SOLID = "solid"
    EMOJI = "emoji"  # a smiley over each face
    IMAGE = "image"  # the user's own picture over each face (``Sticker``)


@dataclass(frozen=True, eq=False)
class Sticker:
    """A picture laid over each redacted face: BGRA, its alpha saying where it covers."""

    bgra: np.ndarray

    def __eq__(self, other) -> bool:
        return isinstance(other, Sticker) and self.bgra.shape == other.bgra.shape and \
            bool(np.array_equal(self.bgra, other.bgra))

    def __hash__(self) -> int:
        return hash(self.bgra.shape)


@functools.cache
def emoji() -> Sticker:
    """A smiling face drawn, not read from a font: nothing to install, the same everywhere."""
    n = 256
    img = np.zeros((n, n, 4), np.uint8)
    c = n // 2
    ink = (30, 40, 60, 255)
    cv2.circle(img, (c, c), c - 3, (40, 200, 255, 255), -1, cv2.LINE_AA)
    cv2.circle(img, (c, c), c - 6, (20, 150, 230, 255), 5, cv2.LINE_AA)
    for x in (c - 42, c + 42):
        cv2.ellipse(img, (x, c - 28), (13, 22), 0, 0, 360, ink, -1, cv2.LINE_AA)
    cv2.ellipse(img, (c, c + 12), (62, 52), 0, 20, 160, ink, 11, cv2.LINE_AA)
    return Sticker(img)


# The redacted area's shapes (``redact_region``): a feathered ellipse, or the whole padded box.
SHAPES = ("ellipse", "box")

# Padding as fractions of the face box: most on top for the hairline and forehead, some below for the
# chin, little at the sides (YuNet's box already spans cheek to cheek). With the ellipse's ``ELLIPSE``
# this covers what identifies a face and far less background than a circumscribed ellipse
# (Hamilton clip: 0 of 412 bystander boxes visible either way; background patches blurred 0.18 -> see
# docs/BENCHMARKS.md).
PAD_X = 0.15
PAD_TOP = 0.35
PAD_BOTTOM = 0.15
ELLIPSE = 1.15
# Blur/pixelate: cells of at least this fraction of the face's larger side, whatever the region's
# size, so that no feature (an eye, the mouth) keeps a cell of its own.
CELL = 0.4
# ``scale`` (--mask-scale) grows the padded box around its centre; never shrinks it, since the padding
# is what covers the hairline and chin.
MASK_SCALE_RANGE = (1.0, 3.0)


def padded_box(box, frame_shape, scale: float = 1.0) -> tuple[int, int, int, int]:
    """The region a face's redaction covers, ``scale`` times the padded box, clipped to the frame."""
    h, w = frame_shape[:2]
    x1, y1, x2, y2 = box
    bw, bh = x2 - x1, y2 - y1
    x1, y1, x2, y2 = x1 - PAD_X * bw, y1 - PAD_TOP * bh, x2 + PAD_X * bw, y2 + PAD_BOTTOM * bh
    grow_x, grow_y = (scale - 1) / 2 * (x2 - x1), (scale - 1) / 2 * (y2 - y1)
    px1 = int(np.floor(max(0, x1 - grow_x)))
    py1 = int(np.floor(max(0, y1 - grow_y)))
    px2 = int(np.ceil(min(w, x2 + grow_x)))
    py2 = int(np.ceil(min(h, y2 + grow_y)))
    return px1, py1, px2, py2


def _stick(base: np.ndarray, sticker: Sticker, stretch: bool) -> np.ndarray:
    """``sticker`` over ``base``: stretched to fill it (the emoji, round like the ellipse it fills),
    or whole and centred at its own proportions (a picture, which stretching would distort)."""
    h, w = base.shape[:2]
    sh, sw = sticker.bgra.shape[:2]
    if stretch:
        tw, th = w, h
    else:
        k = min(w / sw, h / sh)
        tw, th = max(1, round(sw * k)), max(1, round(sh * k))
    pic = cv2.resize(sticker.bgra, (tw, th), interpolation=cv2.INTER_AREA if tw < sw else cv2.INTER_LINEAR)
    x, y = (w - tw) // 2, (h - th) // 2
    under = base[y:y + th, x:x + tw]
    colour = pic[..., :3] if base.ndim == 3 else cv2.cvtColor(pic[..., :3], cv2.COLOR_BGR2GRAY)
    alpha = cv2.merge([pic[..., 3]] * base.shape[2]) if base.ndim == 3 else pic[..., 3]
    under[:] = cv2.add(cv2.multiply(colour, alpha, scale=1 / 255),
                       cv2.multiply(under, cv2.bitwise_not(alpha), scale=1 / 255))
    return base


def _destroy(roi: np.ndarray, style: Style, cell: int, sticker: Sticker | None = None) -> np.ndarray:
    h, w = roi.shape[:2]
    if style is Style.EMOJI:
        return _stick(_destroy(roi, Style.BLUR, cell), emoji(), stretch=True)
    if style is Style.IMAGE:
        if sticker is None:
            raise ValueError("Style.IMAGE needs its sticker")
        return _stick(_destroy(roi, Style.BLUR, cell), sticker, stretch=False)
    if style is Style.SOLID:
        return np.zeros_like(roi)
    cell = max(1, min(cell, h, w))
    # Averaging every pixel of a large face into a handful of cells is the costly part; sampling
    # every few pixels first still averages dozens of samples per cell.
    step = max(1, min(8, cell // 4))
    small = cv2.resize(roi[::step, ::step], (max(1, w // cell), max(1, h // cell)), interpolation=cv2.INTER_AREA)
    if style is Style.PIXELATE:
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
    # Smoothed at a fraction of the size, then scaled up: the result has no detail finer than a cell.
    q = max(1, cell // 8)
    mid = cv2.resize(small, (max(1, w // q), max(1, h // q)), interpolation=cv2.INTER_LINEAR)
    k = max(3, ((cell // 2) // q) // 2 * 2 + 1)
    return cv2.resize(cv2.blur(mid, (k, k)), (w, h), interpolation=cv2.INTER_LINEAR)


def _ellipse_mask(h: int, w: int, centre: tuple[float, float], axes: tuple[float, float], feather: int) -> np.ndarray:
    """255 inside the ellipse, fading to 0 over ``feather`` pixels outside it (uint8). Drawn at
    reduced size for large faces (the mask is smooth, so scaling it up loses nothing)."""
    f = max(1, min(4, feather // 3))
    sh, sw = -(-h // f), -(-w // f)
    c = (round(centre[0] / f), round(centre[1] / f))
    ax, ay, fe = axes[0] / f, axes[1] / f, max(1, round(feather / f))
    hard = np.zeros((sh, sw), np.uint8)
    cv2.ellipse(hard, c, (max(1, round(ax)), max(1, round(ay))), 0, 0, 360, 255, -1)
    # Grown by half the feather and box-blurred by the other half, the mask falls to 0 exactly at
    # ``feather`` beyond the ellipse: the region's own edge, so no seam is left where it ends.
    half = max(1, fe // 2)
    grown = np.zeros((sh, sw), np.uint8)
    cv2.ellipse(grown, c, (round(ax) + half, round(ay) + half), 0, 0, 360, 255, -1)
    soft = cv2.blur(grown, (half * 2 + 1,) * 2)
    mask = np.maximum(soft, hard)
    return mask if f == 1 else cv2.resize(mask, (w, h), interpolation=cv2.INTER_LINEAR)


def redact_region(frame: np.ndarray, box, style: Style = Style.BLUR, shape: str = "ellipse",
                  scale: float = 1.0, sticker: Sticker | None = None) -> None:
    """Redact one face, in place. ``box`` is the detector's (x1, y1, x2, y2); ``sticker`` is the
    picture of ``Style.IMAGE``."""
    px1, py1, px2, py2 = padded_box(box, frame.shape, scale)
    if px2 <= px1 or py2 <= py1:
        return
    cell = int(np.ceil(CELL * max(box[2] - box[0], box[3] - box[1])))
    if shape == "box":
        frame[py1:py2, px1:px2] = _destroy(frame[py1:py2, px1:px2], style, cell, sticker)
        return
    H, W = frame.shape[:2]
    feather = max(2, int(0.08 * max(px2 - px1, py2 - py1)))
    # An ellipse a little wider than the padded box, feathered outward: a face is oval, and the
    # padded box's corners are hair, neck or background.
    cx, cy = (px1 + px2) / 2, (py1 + py2) / 2
    ax, ay = (px2 - px1) / 2 * ELLIPSE, (py2 - py1) / 2 * ELLIPSE
    ex1, ey1 = int(max(0, np.floor(cx - ax - feather))), int(max(0, np.floor(cy - ay - feather)))
    ex2, ey2 = int(min(W, np.ceil(cx + ax + feather))), int(min(H, np.ceil(cy + ay + feather)))
    roi = frame[ey1:ey2, ex1:ex2]
    mask = _ellipse_mask(ey2 - ey1, ex2 - ex1, (cx - ex1, cy - ey1), (ax, ay), feather)
    # Whatever the ellipse leaves of the detector's own box is redacted too.
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    mask[max(0, y1 - ey1):max(0, y2 - ey1), max(0, x1 - ex1):max(0, x2 - ex1)] = 255
    # Blended in 8 bits (3x faster than cv2.blendLinear's float weights): where the mask is 255 the
    # result is exactly the destroyed region, where it is 0 exactly the original.
    m3 = cv2.merge([mask] * roi.shape[2]) if roi.ndim == 3 else mask
    roi[:] = cv2.add(cv2.multiply(_destroy(roi, style, cell, sticker), m3, scale=1 / 255),
                     cv2.multiply(roi, cv2.bitwise_not(m3), scale=1 / 255))


def redact_frame(frame: np.ndarray, style: Style = Style.BLUR, cells: int = 24) -> None:
    """Redact the whole frame, in place: the live fail-safe when faces are not known in time.
    The sticker styles blur it (a sticker over the whole picture would hide the scene). Coarse enough
    that no face survives, fine enough that the viewer still sees the scene, and cheap (two resizes,
    ~3 ms at 1080p), since it is what the relay falls back on when behind."""
    h, w = frame.shape[:2]
    if style is Style.SOLID:
        frame[:] = 0
        return
    cell = max(1, int(np.ceil(max(h, w) / cells)))
    # Sampling every 8th pixel first makes the averaging 40x cheaper; each cell still averages
    # about a hundred samples, so nothing of a face survives.
    step = max(1, min(8, cell // 4))
    sampled = cv2.resize(frame, (max(1, w // step), max(1, h // step)), interpolation=cv2.INTER_NEAREST)
    small = cv2.resize(sampled, (max(1, w // cell), max(1, h // cell)), interpolation=cv2.INTER_AREA)
    # Bilinear up from cells this coarse is already smooth: no blur pass needed.
    up = cv2.INTER_NEAREST if style is Style.PIXELATE else cv2.INTER_LINEAR
    cv2.resize(small, (w, h), dst=frame, interpolation=up)
