"""Detector speed per call: onnxruntime on the float models against OpenVINO on the int8 builds.

    .venv/bin/python benchmarks/runtime.py [--repeat N]

Real frames (the Hamilton clip's, scaled) at the sizes the engine feeds: a 720p frame at its analysis
size (1280x736), a 12 MP photo's analysis copy (1280x960) and a small frame (640x480). The accuracy
of the same two builds, side by side, is benchmarks/recall.py's table.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import av
import cv2
import numpy as np

from bystander.engine.models import CENTERFACE, CENTERFACE_INT8, YUNET, YUNET_INT8
from bystander.engine.runtime import Runtime, load, openvino_available

MEDIA = Path(__file__).resolve().parents[1].parent / "shared" / "media"
SIZES = ((736, 1280), (960, 1280), (480, 640))


def frame() -> np.ndarray:
    with av.open(str(MEDIA / "face_recognition" / "short_hamilton_clip.mp4")) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i == 250:  # the audience: several faces
                return f.to_ndarray(format="bgr24")
    raise RuntimeError("short clip")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    img = frame()
    runtimes = [Runtime.ONNXRUNTIME] + ([Runtime.OPENVINO] if openvino_available() else [])
    print(f"median ms per call of {args.repeat}")
    print("| model | input | threads | " + " | ".join(
        "onnxruntime float" if rt is Runtime.ONNXRUNTIME else "OpenVINO int8" for rt in runtimes) + " |")
    print("|---|---|---:|" + "---:|" * len(runtimes))
    for name, float_model, int8_model, rgb in (("YuNet", YUNET, YUNET_INT8, False),
                                              ("CenterFace", CENTERFACE, CENTERFACE_INT8, True)):
        for h, w in SIZES:
            pic = cv2.resize(img, (w, h))
            blob = (pic[:, :, ::-1] if rgb else pic).transpose(2, 0, 1)[None].astype(np.float32)
            for threads in (1, 2):
                cells = []
                for rt in runtimes:
                    net = load(float_model, int8_model, threads, rt)
                    net.run(blob)
                    times = []
                    for _ in range(args.repeat):
                        t = time.perf_counter()
                        net.run(blob)
                        times.append(time.perf_counter() - t)
                    cells.append(f"{statistics.median(times) * 1000:.1f}")
                print(f"| {name} | {w}x{h} | {threads} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
