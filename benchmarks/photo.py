"""Photo mode on a 12-megapixel photo: end-to-end time and the cost of each stage, per runtime.

    .venv/bin/python benchmarks/photo.py [--repeat N]

A real group photo (../shared/media/facenet_pytorch/multiface.jpg, six faces) is upscaled to 4000x3000.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import cv2

from bystander.engine import Engine, EngineConfig, Gallery
from bystander.engine.runtime import Runtime, openvino_available
from bystander.media.image import read_photo, write_photo

MEDIA = Path(__file__).resolve().parents[1].parent / "shared" / "media"


def timed(fn, repeat):
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000, result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    runtimes = [Runtime.OPENVINO, Runtime.ONNXRUNTIME] if openvino_available() else [Runtime.ONNXRUNTIME]
    columns = {rt.value: run(rt, args.repeat) for rt in runtimes}
    counts = ", ".join(f"{rt}: {n} faces found, {r} redacted" for rt, (_, (n, r)) in columns.items())
    print(f"photo mode, 4000x3000 (12 MP), median of {args.repeat}; ms ({counts})")
    print(f"| stage | {' | '.join(columns)} |")
    print("|---|" + "---:|" * len(columns))
    for name in next(iter(columns.values()))[0]:
        print(f"| {name} | {' | '.join(f'{rows[name]:.0f}' for rows, _ in columns.values())} |")
    for rt, (rows, _) in columns.items():
        total = rows["end to end (per photo)"]
        print(f"{rt}: goal <= 500 ms end to end: {'met' if total <= 500 else 'NOT met'}")


def run(runtime: Runtime, repeat: int) -> tuple[dict[str, float], tuple[int, int]]:
    args = argparse.Namespace(repeat=repeat)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "12mp.jpg"
        img = cv2.imread(str(MEDIA / "facenet_pytorch" / "multiface.jpg"))
        cv2.imwrite(str(src), cv2.resize(img, (4000, 3000), interpolation=cv2.INTER_CUBIC),
                    [cv2.IMWRITE_JPEG_QUALITY, 92])
        t0 = time.perf_counter()
        engine = Engine(config=EngineConfig(runtime=runtime))
        probe = read_photo(src).bgr
        faces = engine.photo_detector.detect(probe)
        # Register one of the six so that recognition runs on every face, as it does for a real user.
        engine.gallery = Gallery.from_people({"someone": engine.recogniser.embed(probe, faces[:1])})
        load_ms = (time.perf_counter() - t0) * 1000
        out = Path(tmp) / "out.jpg"

        read_ms, photo = timed(lambda: read_photo(src), args.repeat)
        yunet_ms, _ = timed(lambda: engine.detect(photo.bgr), args.repeat)
        detect_ms, faces = timed(lambda: engine.photo_detector.detect(photo.bgr), args.repeat)
        embed_ms, _ = timed(lambda: engine.recogniser.embed(photo.bgr, faces), args.repeat)
        decisions = engine.analyse_photo(photo.bgr)
        boxes = [d.face.box for d in decisions if d.redact]
        redact_ms, redacted = timed(lambda: engine.redact(photo.bgr.copy(), boxes), args.repeat)
        write_ms, _ = timed(lambda: write_photo(out, photo, redacted), args.repeat)

        def end_to_end():
            p = read_photo(src)
            ds = engine.analyse_photo(p.bgr)
            write_photo(out, p, engine.redact(p.bgr.copy(), [d.face.box for d in ds if d.redact]))

        total_ms, _ = timed(end_to_end, args.repeat)

    rows = {"models load (once)": load_ms, "read + EXIF": read_ms, "YuNet alone (1280, as for video)": yunet_ms,
            "detect: photo stage": detect_ms, "embed the faces (SFace)": embed_ms,
            "redact the faces": redact_ms, "write JPEG": write_ms, "end to end (per photo)": total_ms}
    return rows, (len(faces), len(boxes))


if __name__ == "__main__":
    main()
