"""One photo from the command line, the whole command as a user runs it, beside deface's.

    .venv/bin/python benchmarks/photo_command.py [--runs N] [--deface .venv-bench/bin/deface]

For a small photo (../shared/media/face_recognition/two_people.jpg) and a 12-megapixel one (the group
photo ../shared/media/facenet_pytorch/multiface.jpg upscaled to 4000x3000), each command runs --runs
times, alternating: bystander --everyone (deface blurs every face) cold (an empty compiled-model cache, BYSTANDER_CACHE), bystander warm (the
cache the cold run filled), deface with its defaults. Printed: the median and spread of wall time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media"


def wall(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--deface", default=str(ROOT / ".venv-bench" / "bin" / "deface"))
    a = ap.parse_args()
    bystander = [sys.executable, "-m", "bystander"]
    with tempfile.TemporaryDirectory(prefix="bystander-bench-photo-") as tmp:
        work = Path(tmp)
        big = work / "12mp.jpg"
        cv2.imwrite(str(big), cv2.resize(cv2.imread(str(MEDIA / "facenet_pytorch" / "multiface.jpg")), (4000, 3000),
                                         interpolation=cv2.INTER_CUBIC))
        photos = {"two_people.jpg": MEDIA / "face_recognition" / "two_people.jpg", "12 MP": big}
        rows = []
        for label, photo in photos.items():
            times: dict[str, list[float]] = {"bystander cold": [], "bystander warm": [], "deface": []}
            for k in range(a.runs):
                cache = work / f"cache-{label}-{k}"
                env = dict(os.environ, BYSTANDER_CACHE=str(cache))
                out = str(work / f"out-{k}.jpg")
                times["bystander cold"].append(wall([*bystander, "photo", str(photo), "-o", out, "--force", "--everyone"], env))
                times["bystander warm"].append(wall([*bystander, "photo", str(photo), "-o", out, "--force", "--everyone"], env))
                if Path(a.deface).exists():
                    times["deface"].append(wall([a.deface, str(photo), "-o", str(work / f"deface-{k}.jpg")],
                                                dict(os.environ)))
            for name, values in times.items():
                if values:
                    rows.append((label, name, statistics.median(values), min(values), max(values)))
    print(f"{'photo':16} {'command':16} {'median s':>9} {'min s':>7} {'max s':>7}")
    for label, name, med, lo, hi in rows:
        print(f"{label:16} {name:16} {med:9.2f} {lo:7.2f} {hi:7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
