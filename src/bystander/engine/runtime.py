"""Where the detectors run: OpenVINO, or onnxruntime on the float models.

OpenVINO runs YuNet's calibrated int8 graph (``tools/calibrate.py``) with int8 kernels, several times
faster than onnxruntime at the same recall, and CenterFace's float model at full float precision (its
int8 build loses faces; docs/BENCHMARKS.md). Float precision is asked for outright: on a CPU with
bf16 OpenVINO would otherwise round the float parts of either graph to bf16, and results would differ
from one CPU to another. onnxruntime on the float models is the fallback wherever OpenVINO is not
installed or cannot load them, and can be chosen outright (``EngineConfig.runtime``). Both take the
same NCHW float blob and answer outputs by name.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from enum import Enum
from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from . import model_cache
from .models import ModelError, ModelFile, read_verified, repair_graph, session

log = logging.getLogger(__name__)
PREPARING = "preparing the models for this machine, once"  # logged before a model's first compilation


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


class OpenVINONet:
    runtime = Runtime.OPENVINO
    _announced = False  # PREPARING is logged once a process

    def __init__(self, model: ModelFile, prepare: Callable[[bytes], bytes], threads: int, shape: list[int]):
        """``model``, verified and made into the graph OpenVINO reads by ``prepare``; ``shape``: the
        input's, -1 where it varies."""
        ov = import_openvino()
        data = read_verified(model)  # every time: an altered file is refused, cache or not
        cache = model_cache.folder(ov.get_version())
        if cache is not None and not model_cache.verify(cache):
            cache = None
        key = f"{model.sha256[:16]}-{prepare.__name__}-{'x'.join(map(str, shape))}"
        marker = cache / f"{key}-{threads}" if cache else None
        if marker is not None and not marker.exists() and not OpenVINONet._announced:
            log.info(PREPARING)
            OpenVINONet._announced = True

        def read():
            m = ov.Core().read_model(prepare(data), b"")
            # One compiled model for every input size: compiling per size costs ~0.4 s each, and the
            # dynamic model runs within ~10 % of a static one.
            m.reshape({m.inputs[0]: ov.PartialShape(shape)})
            return m

        # Only a load that writes a blob waits for others: a warm one reads.
        writes = cache is not None and marker is not None and (not marker.exists() or model_cache.rebuilding(cache))
        with model_cache.lock if writes else contextlib.nullcontext():
            kept = model_cache.graph(cache, key, lambda path: ov.save_model(read(), f"{path}.xml",
                                                                             compress_to_fp16=False)) if cache else None
            try:
                compiled = self._compile(ov, kept or read(), threads, cache if kept else None)
            except RuntimeError as exc:  # OpenVINO raises plain RuntimeErrors
                if cache is None:
                    raise ModelError(f"model {model.name}: OpenVINO could not load it: {exc}") from exc
                # A damaged cache: compile as if there were none.
                try:
                    compiled = self._compile(ov, read(), threads, None)
                except RuntimeError as exc2:
                    raise ModelError(f"model {model.name}: OpenVINO could not load it: {exc2}") from exc2
            if cache is not None and marker is not None:
                model_cache.record(cache)
                try:
                    marker.touch()
                except OSError:
                    pass
        self._names = [o.get_any_name() for o in compiled.outputs]
        self._compiled = compiled
        # A compiled model may be shared by threads (the web app shares its detector), an infer
        # request may not: one request per thread.
        self._local = threading.local()

    @staticmethod
    def _compile(ov, source, threads: int, cache):
        """``source``: the graph file kept in ``cache`` (its blob then loads without the graph being
        read), or a model read in memory."""
        core = ov.Core()
        if cache is not None:
            core.set_property({"CACHE_DIR": str(cache)})
        return core.compile_model(str(source) if isinstance(source, Path) else source, "CPU", {
            "INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY",
            # Other threads (decoding, encoding) share these cores: do not pin ours to them.
            "ENABLE_CPU_PINNING": False,
            "INFERENCE_PRECISION_HINT": "f32",
        })

    def run(self, blob: np.ndarray) -> dict[str, np.ndarray]:
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self._compiled.create_infer_request()
        out = request.infer({0: blob})
        return {name: out[i] for i, name in enumerate(self._names)}


def import_openvino():
    """OpenVINO without its model converter, which bystander does not use: importing it (as a plain
    ``import openvino`` does) sends a usage event to Google Analytics and writes a client id under
    ~/intel, and takes a third of OpenVINO's import time. Its telemetry package stays hidden too,
    should anything else import it: OpenVINO then takes its own stub."""
    for unused in ("openvino.tools.ovc", "openvino_telemetry"):
        sys.modules.setdefault(unused, None)  # type: ignore[arg-type]
    import openvino

    return openvino


def openvino_available() -> bool:
    try:
        import_openvino()
    except ImportError:
        return False
    return True


def load(float_model: ModelFile, int8_model: ModelFile | None, threads: int, runtime: Runtime = Runtime.AUTO) -> Net:
    """The detector ``float_model`` on ``runtime``: OpenVINO runs ``int8_model`` (None: the float model,
    at full float precision), onnxruntime ``float_model``. AUTO takes onnxruntime where OpenVINO is not
    installed, or cannot compile the float model (OpenVINO's kernels capped below AVX-512). A damaged
    model file is an error either way, never a silent fallback."""
    if runtime is Runtime.ONNXRUNTIME or (runtime is Runtime.AUTO and not openvino_available()):
        return _Onnxruntime(float_model, threads)
    if not openvino_available():
        raise ModelError("runtime openvino: the 'openvino' package is not installed (pip install openvino)")
    if int8_model is not None:
        return OpenVINONet(int8_model, repair_graph, threads, [1, 3, -1, -1])
    try:
        return OpenVINONet(float_model, repair_graph, threads, [1, 3, -1, -1])
    except ModelError:
        if runtime is not Runtime.AUTO:
            raise
        return _Onnxruntime(float_model, threads)
