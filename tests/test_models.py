import dataclasses

import onnx
import pytest

from bystander.engine import models


def test_models_come_from_the_installed_package_and_match_their_checksums():
    for m in (models.YUNET, models.SFACE):
        assert models.locate(m).is_file()
        models.read_verified(m)


def test_a_wrong_checksum_is_refused_with_a_clear_message():
    altered = dataclasses.replace(models.YUNET, sha256="0" * 64)
    with pytest.raises(models.ModelError, match="checksum mismatch.*reinstall"):
        models.read_verified(altered)


def test_a_missing_package_is_named():
    missing = dataclasses.replace(models.YUNET, package="no_such_package_here")
    with pytest.raises(models.ModelError, match="no_such_package_here.*not installed"):
        models.locate(missing)


def test_repair_makes_scalar_scales_and_drops_stale_inputs():
    yunet = onnx.load_from_string(models.repair_graph(models.read_verified(models.YUNET)))
    inits = {t.name: t for t in yunet.graph.initializer}
    for node in yunet.graph.node:
        if node.op_type == "DequantizeLinear" and any(a.name == "block_size" for a in node.attribute):
            # What keeps its block attributes must really be blocked (more than one scale).
            assert len(inits[node.input[1]].dims) and inits[node.input[1]].dims[0] > 1
    sface = onnx.load_from_string(models.repair_graph(models.read_verified(models.SFACE)))
    assert [i.name for i in sface.graph.input] == ["data"]


def test_sessions_load():
    assert models.session(models.YUNET, dynamic_input=True).get_inputs()[0].name == "input"


def test_the_shipped_detectors_match_their_checksums():
    for m in (models.CENTERFACE, models.YUNET_INT8, models.CENTERFACE_INT8):
        assert m.package == "bystander" and models.locate(m).is_file()
        models.read_verified(m)


def test_an_altered_int8_model_is_refused_not_replaced_by_the_fallback():
    from bystander.engine import runtime

    altered = dataclasses.replace(models.CENTERFACE_INT8, sha256="0" * 64)
    for rt in (runtime.Runtime.AUTO, runtime.Runtime.OPENVINO):
        if rt is runtime.Runtime.AUTO and not runtime.openvino_available():
            continue
        with pytest.raises(models.ModelError, match="centerface_int8.onnx: checksum mismatch"):
            runtime.load(models.CENTERFACE, altered, threads=1, runtime=rt)


def test_both_runtimes_load_both_detectors():
    import numpy as np

    from bystander.engine import runtime

    blob = np.zeros((1, 3, 96, 128), np.float32)
    for rt in (runtime.Runtime.OPENVINO, runtime.Runtime.ONNXRUNTIME):
        for float_model, int8_model in ((models.YUNET, models.YUNET_INT8), (models.CENTERFACE, models.CENTERFACE_INT8)):
            net = runtime.load(float_model, int8_model, threads=1, runtime=rt)
            assert net.runtime is rt
            out = net.run(blob)
            assert all(np.isfinite(v).all() for v in out.values())
            if float_model is models.CENTERFACE:
                assert out["537"].shape == (1, 1, 24, 32)  # the heatmap, at a quarter of the input
