"""Build the int8 detectors from the shipped float models, calibrated on real frames.

    .venv/bin/python tools/calibrate.py        (needs ../shared/media; about a minute)

Writes ``src/bystander/models/{yunet,centerface}_int8.onnx``: QDQ graphs (int8 weights per channel,
uint8 activations per tensor, ranges by MinMax over the calibration frames) that OpenVINO runs with
int8 kernels. The calibration frames are every photo in ../shared/media and every 10th frame of its
two videos, each scaled to 640 px on its longest side and padded to 640x480 as the detectors pad.
Run it again after changing a source model, then update the checksums in ``engine/models.py``.
Deterministic: the same files in the same order give the same ranges.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import av
import cv2
import numpy as np
import onnx
from onnx import numpy_helper, version_converter
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                      quantize_static)
from onnxruntime.quantization.shape_inference import quant_pre_process

from bystander.engine import models

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media"
OUT = ROOT / "src" / "bystander" / "models"
VIDEOS = ("face_recognition/short_hamilton_clip.mp4", "facenet_pytorch/video.mp4")
H, W = 480, 640


def fold_weights(m: onnx.ModelProto) -> onnx.ModelProto:
    """YuNet's int8bq file stores weights as int8 behind DequantizeLinear: make them float again, so
    that the quantiser sees a plain float graph (the values are exactly what onnxruntime computes)."""
    g = m.graph
    inits = {t.name: t for t in g.initializer}
    nodes = []
    for n in g.node:
        if n.op_type == "DequantizeLinear" and n.input[0] in inits:
            x = numpy_helper.to_array(inits[n.input[0]]).astype(np.float32)
            s = numpy_helper.to_array(inits[n.input[1]]).astype(np.float32)
            z = numpy_helper.to_array(inits[n.input[2]]).astype(np.float32) if len(n.input) > 2 and n.input[2] else 0.0
            if s.ndim == 1 and s.size > 1:
                axis = next((a.i for a in n.attribute if a.name == "axis"), 1)
                shape = [1] * x.ndim
                shape[axis] = -1
                s = s.reshape(shape)
                z = np.reshape(z, shape) if np.ndim(z) else z
            g.initializer.append(numpy_helper.from_array(((x - z) * s).astype(np.float32), n.output[0]))
        else:
            nodes.append(n)
    del g.node[:]
    g.node.extend(nodes)
    used = {i for n in g.node for i in n.input}
    keep = [t for t in g.initializer if t.name in used]
    del g.initializer[:]
    g.initializer.extend(keep)
    return m


def frames() -> list[np.ndarray]:
    images = [cv2.imread(str(p)) for p in sorted(MEDIA.rglob("*")) if p.suffix.lower() in (".jpg", ".png")]
    for name in VIDEOS:
        with av.open(str(MEDIA / name)) as c:
            images += [f.to_ndarray(format="bgr24") for i, f in enumerate(c.decode(video=0)) if i % 10 == 0]
    out = []
    for img in images:
        if img is None:
            continue
        s = min(W / img.shape[1], H / img.shape[0])
        small = cv2.resize(img, (round(img.shape[1] * s), round(img.shape[0] * s)), interpolation=cv2.INTER_AREA)
        canvas = np.zeros((H, W, 3), np.uint8)
        canvas[:small.shape[0], :small.shape[1]] = small
        out.append(canvas)
    return out


class Frames(CalibrationDataReader):
    def __init__(self, name: str, images: list[np.ndarray], rgb: bool):
        self._it = iter([{name: (im[:, :, ::-1] if rgb else im).transpose(2, 0, 1)[None].astype(np.float32)}
                         for im in images])

    def get_next(self):
        return next(self._it, None)


def calibrate(m: onnx.ModelProto, rgb: bool, dst: Path, images: list[np.ndarray]) -> None:
    dims = m.graph.input[0].type.tensor_type.shape.dim
    dims[0].dim_value, dims[2].dim_value, dims[3].dim_value = 1, H, W
    for o in m.graph.output:
        for d in o.type.tensor_type.shape.dim:
            d.ClearField("dim_value")
            d.ClearField("dim_param")
    with tempfile.TemporaryDirectory() as tmp:
        src, pre = Path(tmp) / "float.onnx", Path(tmp) / "pre.onnx"
        onnx.save(m, src)
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        quantize_static(str(pre), str(dst), Frames(m.graph.input[0].name, images, rgb),
                        quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax)
    print(f"{dst}: sha256 {models.hashlib.sha256(dst.read_bytes()).hexdigest()}")


def main() -> None:
    if not MEDIA.is_dir():
        sys.exit(f"calibrate: real media not found at {MEDIA}")
    images = frames()
    print(f"{len(images)} calibration frames")
    yunet = fold_weights(onnx.load_from_string(models.repair_graph(models.read_verified(models.YUNET))))
    calibrate(yunet, False, OUT / models.YUNET_INT8.name, images)
    # CenterFace is opset 9; per-channel QDQ needs 13.
    centerface = version_converter.convert_version(
        onnx.load_from_string(models.repair_graph(models.read_verified(models.CENTERFACE))), 13)
    calibrate(centerface, True, OUT / models.CENTERFACE_INT8.name, images)


if __name__ == "__main__":
    main()
