"""Faces left visible on the labelled set (tests/gt/labelled_faces.gt.json), class by class.

    .venv/bin/python benchmarks/labelled.py [--deface .venv-bench/bin/deface]

Every labelled image (photos and single video frames from ../shared/media, a box drawn by eye on
every face) goes through:
- ``bystander photo --everyone`` (the photo stage), the real command on the folder of images;
- ``bystander video --everyone`` on each image made into a 10-frame video (the video path), with the
  defaults, and in-process with the second look (CenterFace in the judge) turned off, for comparison;
- deface 1.5.0 (its defaults, the real command from ``.venv-bench``) on each image.
Each face is judged by the shared judge's rule (../shared/eval/score.py), in every frame of a video:
visible in one frame is visible. Printed: faces left visible, per class.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import labelled  # noqa: E402

MEDIA = ROOT.parent / "shared" / "media"


def bystander(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "bystander", *args], check=True, stdout=subprocess.DEVNULL)


def video_in_process(videos: list[Path], out: Path, **config) -> None:
    from bystander.engine import Engine, EngineConfig
    from bystander.media.redact_video import redact_video

    engine = Engine(config=EngineConfig(everyone=True, **config))
    out.mkdir(parents=True, exist_ok=True)
    for v in videos:
        redact_video(engine, v, out / v.name)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--deface", default=str(ROOT / ".venv-bench" / "bin" / "deface"))
    a = ap.parse_args()
    gt = labelled.load()
    columns: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="bystander-bench-labelled-") as tmp:
        work = Path(tmp)
        images = labelled.materialise(gt, MEDIA, work / "images")
        bystander("photo", str(work / "images"), "-o", str(work / "photo"), "--everyone", "-q")
        columns["photo stage"] = labelled.visible_in_photos(gt, work / "images", work / "photo")
        videos = labelled.still_videos(images, work / "videos")
        bystander("video", str(work / "videos"), "-o", str(work / "video"), "--everyone", "-q")
        columns["video path"] = labelled.visible_in_videos(gt, work / "videos", work / "video")
        video_in_process(videos, work / "video-yunet", second_every=0, second_around_lost=False)
        columns["video, YuNet alone"] = labelled.visible_in_videos(gt, work / "videos", work / "video-yunet")
        if Path(a.deface).exists():
            (work / "deface").mkdir()
            for image in images:
                subprocess.run([a.deface, str(image), "-o", str(work / "deface" / image.name)], check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            columns["deface 1.5.0"] = labelled.visible_in_photos(gt, work / "images", work / "deface")
    tables = {name: labelled.by_class(v) for name, v in columns.items()}
    first = next(iter(tables.values()))
    print(f"{'class':10} {'faces':>6} " + " ".join(f"{name:>20}" for name in tables))
    for cls in first:
        print(f"{cls:10} {first[cls][1]:>6} " + " ".join(f"{t[cls][0]:>20}" for t in tables.values()))
    for name, visible in columns.items():
        left = [f"{f.file}#{f.face}" for f, v in visible.items() if v]
        print(f"{name}: left visible {', '.join(left) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
