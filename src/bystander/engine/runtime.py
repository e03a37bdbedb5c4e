"""Where the detectors run: OpenVINO on the int8 builds, or onnxruntime on the float models.

OpenVINO runs the calibrated int8 graphs (``tools/calibrate.py``) with int8 kernels: on this project's
AMD EPYC (AVX-512 VNNI) YuNet at 1280x960 takes 12-14 ms against onnxruntime's ~45 ms and CenterFace
40 ms against ~135 ms, at the same recall (docs/BENCHMARKS.md). onnxruntime on the float models is the
fallback wherever OpenVINO is not installed or cannot load them, and can be chosen outright
(``EngineConfig.runtime``). Both take the same NCHW float blob and answer outputs by name.
"""

from __future__ import annotations

import threading
from enum import Enum
from typing import Protocol

import numpy as np

from .models import ModelError, ModelFile, read_verified, repair_graph, session


class Runtime(str, Enum):
    AUTO = "auto"  # OpenVINO int8 where it installs and loads, else onnxruntime
    OPENVINO = "openvino"
    ONNXRUNTIME = "onnxruntime"


class Net(Protocol):
    runtime: Runtime

    def run(self, blob: np.ndarray) -> dict[str, np.ndarray]:
        ...


class _Onnxruntime:
    runtime = Runtime.ONNXRUNTIME

    def __init__(self, model: ModelFile, threads: int):
        self._session = session(model, threads=threads, dynamic_input=True)
        self._input = self._session.get_inputs()[0].name
        self._names = [o.name for o in self._session.get_outputs()]

    def run(self, blob: np.ndarray) -> dict[str, np.ndarray]:
        return dict(zip(self._names, self._session.run(self._names, {self._input: blob})))


class _OpenVINO:
    runtime = Runtime.OPENVINO

    def __init__(self, model: ModelFile, threads: int):
        import openvino as ov

        core = ov.Core()
        try:
            m = core.read_model(repair_graph(read_verified(model)))
            # One compiled model for every frame size: compiling per size costs ~0.4 s each, and the
            # dynamic model runs within ~10 % of a static one.
            m.reshape({m.inputs[0]: ov.PartialShape([1, 3, -1, -1])})
            compiled = core.compile_model(m, "CPU", {
                "INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY",
                # Other threads (decoding, encoding) share these cores: do not pin ours to them.
                "ENABLE_CPU_PINNING": False,
            })
        except RuntimeError as exc:  # OpenVINO raises plain RuntimeErrors
            raise ModelError(f"model {model.name}: OpenVINO could not load it: {exc}") from exc
        self._names = [o.get_any_name() for o in compiled.outputs]
        self._compiled = compiled
        # A compiled model may be shared by threads (the web app shares its detector), an infer
        # request may not: one request per thread.
        self._local = threading.local()

    def run(self, blob: np.ndarray) -> dict[str, np.ndarray]:
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self._compiled.create_infer_request()
        out = request.infer({0: blob})
        return {name: out[i] for i, name in enumerate(self._names)}


def openvino_available() -> bool:
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def load(float_model: ModelFile, int8_model: ModelFile, threads: int, runtime: Runtime = Runtime.AUTO) -> Net:
    """The detector ``float_model`` on ``runtime``: OpenVINO runs ``int8_model``, onnxruntime
    ``float_model``. AUTO falls back to onnxruntime only when OpenVINO is not installed; a damaged int8
    file is an error either way, never a silent fallback."""
    if runtime is Runtime.ONNXRUNTIME or (runtime is Runtime.AUTO and not openvino_available()):
        return _Onnxruntime(float_model, threads)
    if not openvino_available():
        raise ModelError("runtime openvino: the 'openvino' package is not installed (pip install openvino)")
    return _OpenVINO(int8_model, threads)
