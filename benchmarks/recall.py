"""Detection recall on the public hard-face set, per class, for bystander and deface; false faces.

    make bench            (or: .venv/bin/python benchmarks/recall.py [--deface PYTHON] [--short])

The set is generated from ../shared/media (benchmarks/hardfaces.py). Columns:
- ``video``: the detector files and live run on every frame (YuNet);
- ``video + sweep``: with what the judge's second look adds on a frame it sweeps (CenterFace on the
  frame shrunk to ``EngineConfig.second_size``, engine/second_look.py): a still shown as a video is
  swept on its first frame;
- ``photo``: the photo stage (YuNet upright and turned, CenterFace, fine/upscaled passes), on the
  default runtime (OpenVINO int8 where installed) and on the onnxruntime fallback (float models);
- ``deface``: deface 1.5.0's own CenterFace code in .venv-bench (``make bench-video`` builds it), at
  its defaults (threshold 0.2, the image at full size).
False faces: detections whose centre lies in no ground-truth box (ignored ones included) on the Hamilton
clip's frames (hands with a microphone beside the performer's face, the audience), and any detection on
face-free photos.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import hardfaces  # noqa: E402

from bystander.engine import Engine, EngineConfig, second_look  # noqa: E402
from bystander.engine.runtime import Runtime, openvino_available  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFACE_PY = ROOT / ".venv-bench" / "bin" / "python"
NEGATIVES = ("negatives/view.jpg", "intel_sample_videos/worker-zone-detection.gif")
DEFACE_SCRIPT = """
import json, sys, cv2
from deface.centerface import CenterFace
cf = CenterFace(in_shape=None, backend='auto')
out = []
for path in sys.argv[1:]:
    img = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB)  # deface reads frames as RGB
    dets, _ = cf(img, threshold=0.2)
    out.append([[float(v) for v in d[:4]] for d in dets])
print(json.dumps(out))
"""


def deface_boxes(deface_python: Path, images: list[np.ndarray]) -> list[list]:
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, img in enumerate(images):
            p = Path(tmp) / f"{i:05d}.png"
            cv2.imwrite(str(p), img)
            paths.append(str(p))
        proc = subprocess.run([str(deface_python), "-c", DEFACE_SCRIPT, *paths], capture_output=True, text=True,
                              check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def hamilton_frames(step: int) -> tuple[list[np.ndarray], list[list]]:
    truth = json.loads((hardfaces.EVAL / "short_hamilton_clip.gt.json").read_text())["frames"]
    frames, truths = [], []
    with av.open(str(hardfaces.MEDIA / "face_recognition" / "short_hamilton_clip.mp4")) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i % step == 0:
                frames.append(f.to_ndarray(format="bgr24"))
                truths.append([(x, y, x + w, y + h) for x, y, w, h in (g["box"] for g in truth[i]["faces"])])
    return frames, truths


def false_faces(boxes_per_frame, truths) -> int:
    n = 0
    for boxes, gt in zip(boxes_per_frame, truths):
        for b in boxes:
            cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
            n += not any(g[0] <= cx <= g[2] and g[1] <= cy <= g[3] for g in gt)
    return n


def negatives() -> list[np.ndarray]:
    out = []
    for name in NEGATIVES:
        with av.open(str(hardfaces.MEDIA / name)) as c:
            out += [f.to_ndarray(format="bgr24") for i, f in enumerate(c.decode(video=0)) if i % 5 == 0]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--deface", type=Path, default=DEFACE_PY, help="python of the environment deface is in")
    ap.add_argument("--short", action="store_true", help="the group photos only (what the test suite runs)")
    args = ap.parse_args()
    images = hardfaces.build(short=args.short)
    ham, ham_truth = hamilton_frames(step=5)
    negs = negatives()
    runtimes = [Runtime.OPENVINO, Runtime.ONNXRUNTIME] if openvino_available() else [Runtime.ONNXRUNTIME]
    columns: dict[str, tuple] = {}
    for rt in runtimes:
        engine = Engine(config=EngineConfig(runtime=rt))
        def swept(image, engine=engine):
            c = engine.config
            return second_look.added(engine.detect(image), second_look.sweep(
                engine.second_detector, image, c.second_size, c.second_threshold), c.second_same_face)

        for label, detect in ((f"video ({rt.value})", engine.detect), (f"video + sweep ({rt.value})", swept),
                              (f"photo ({rt.value})", engine.photo_detector.detect)):
            if label.startswith("video") and rt is not runtimes[0]:
                continue
            detect(images[0].image)  # first call: allocations
            t = time.perf_counter()
            boxes = [[f.box for f in detect(i.image)] for i in images]
            ms = (time.perf_counter() - t) * 1000 / len(images)
            fp = false_faces([[f.box for f in detect(x)] for x in ham], ham_truth)
            neg = sum(len(detect(x)) for x in negs)
            columns[label] = (hardfaces.recall(images, boxes), ms, fp, neg)
    if args.deface.exists():
        t = time.perf_counter()
        boxes = deface_boxes(args.deface, [i.image for i in images])
        ms = (time.perf_counter() - t) * 1000 / len(images)  # includes deface's start-up, once
        columns["deface 1.5.0"] = (hardfaces.recall(images, boxes), ms,
                                   false_faces(deface_boxes(args.deface, ham), ham_truth),
                                   sum(map(len, deface_boxes(args.deface, negs))))
    else:
        print(f"deface not found at {args.deface} (make bench-video installs it): its column is left out")

    names = list(columns)
    first = next(iter(columns.values()))[0]
    print(f"hard-face set ({'short' if args.short else 'full'}): {len(images)} images, "
          f"{sum(t for _, t in first.values())} faces; faces found / faces")
    print(f"| class | faces | {' | '.join(names)} |")
    print("|---|---:|" + "---:|" * len(names))
    for cls, (_, total) in first.items():
        cells = [f"{columns[n][0][cls][0]}" for n in names]
        print(f"| {cls} | {total} | {' | '.join(cells)} |")
    totals = [sum(f for f, _ in columns[n][0].values()) for n in names]
    print(f"| **all** | {sum(t for _, t in first.values())} | {' | '.join(map(str, totals))} |")
    print(f"| ms per image (2-core machine) | | {' | '.join(f'{columns[n][1]:.0f}' for n in names)} |")
    print(f"| false faces, Hamilton every 5th frame ({len(ham)}) | | {' | '.join(str(columns[n][2]) for n in names)} |")
    print(f"| detections on face-free frames ({len(negs)}) | | {' | '.join(str(columns[n][3]) for n in names)} |")


if __name__ == "__main__":
    main()
