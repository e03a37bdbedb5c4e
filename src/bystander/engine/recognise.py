"""Face embeddings with SFace (OpenCV Zoo, Apache-2.0).

A face is aligned to SFace's 112x112 template by a similarity transform on its
five landmarks, then embedded into a unit-length 128-d vector, so that cosine
similarity is a dot product.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from .face import Face
from .models import SFACE, ModelError, dequantized, read_verified, repair_graph
from .runtime import OpenVINONet, Runtime, openvino_available

log = logging.getLogger(__name__)

# SFace's reference landmark positions in the 112x112 crop (OpenCV face_recognize.cpp).
_TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)

EMBEDDING_DIM = 128


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2x3 rotation+scale+translation that best maps ``src`` points onto ``dst`` (Umeyama)."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    ms, md = src.mean(0), dst.mean(0)
    s0, d0 = src - ms, dst - md
    cov = d0.T @ s0 / len(src)
    u, sig, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[-1] = -1
    rot = u @ np.diag(d) @ vt
    var = (s0**2).sum() / len(src)
    scale = (sig * d).sum() / var if var > 0 else 1.0
    m = np.zeros((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = md - scale * rot @ ms
    return m


def align(frame: np.ndarray, face: Face) -> np.ndarray:
    """The face cropped and aligned to 112x112 BGR."""
    m = similarity_transform(face.landmarks, _TEMPLATE)
    return cv2.warpAffine(frame, m, (112, 112), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def float_graph(data: bytes) -> bytes:
    """SFace as OpenVINO reads it: repaired, its weights dequantised."""
    return dequantized(repair_graph(data))


class SFace:
    """SFace on OpenVINO (its weights dequantised, ``models.dequantized``) where OpenVINO is installed,
    else on OpenCV's dnn: the same embeddings, OpenVINO about three times as fast
    (docs/BENCHMARKS.md). Recognition is most of live mode's work in a crowd."""

    def __init__(self, threads: int = 1, runtime: Runtime = Runtime.AUTO):
        self._net: OpenVINONet | None = None
        self._dnn = None
        data = read_verified(SFACE)  # an altered file is an error, whichever runtime takes it
        if runtime is not Runtime.ONNXRUNTIME and openvino_available():
            try:
                self._net = OpenVINONet(SFACE, float_graph, threads, [1, 3, 112, 112])
                return
            except ModelError as exc:  # a CPU OpenVINO cannot compile it for: the same model on OpenCV
                log.warning("%s; recognising on OpenCV's dnn instead", exc)
        data = repair_graph(data)
        try:
            self._dnn = cv2.dnn.readNetFromONNX(np.frombuffer(data, np.uint8))
        except cv2.error as exc:
            raise ModelError(f"model {SFACE.name}: OpenCV could not load it: {exc}") from exc

    def embed(self, frame: np.ndarray, faces: list[Face]) -> np.ndarray:
        """One unit-length embedding per face, shape (len(faces), 128)."""
        if not faces:
            return np.zeros((0, EMBEDDING_DIM), np.float32)
        crops = [align(frame, f) for f in faces]
        # SFace was trained on RGB; the model normalises internally.
        blob = cv2.dnn.blobFromImages(crops, 1.0, (112, 112), (0, 0, 0), swapRB=True, crop=False)
        if self._net is not None:
            # One face a call: a static shape runs faster than a batch of dynamic size.
            out = np.stack([next(iter(self._net.run(b[None]).values())).reshape(-1) for b in blob])
        else:
            self._dnn.setInput(blob)
            out = self._dnn.forward().reshape(len(faces), -1)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return (out / np.maximum(norms, 1e-12)).astype(np.float32)
