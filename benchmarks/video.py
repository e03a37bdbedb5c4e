"""bystander against deface on the same real videos at 720p: fps, ratio, and recall.

    make bench-video        (or: .venv/bin/python benchmarks/video.py [--deface PATH])

deface (pip install deface, kept in .venv-bench so it does not touch bystander's environment) blurs
every face, so bystander runs with --everyone for the speed comparison. deface runs with
--replacewith solid, its cheapest mode, which also marks exactly which regions it covered: every
such region that bystander's output leaves sharp counts against bystander's recall.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media"
SOURCES = [MEDIA / "face_recognition" / "short_hamilton_clip.mp4", MEDIA / "facenet_pytorch" / "video.mp4"]


def scale_to_720p(src: Path, dst: Path, loops: int = 1) -> int:
    """Re-encode ``src`` at 1280x720 (video only), high quality, ``loops`` times in a row, keeping
    its timestamps (each loop continues after the last)."""
    n = 0
    with av.open(str(src)) as c:
        v = c.streams.video[0]
        rate, time_base = v.average_rate, v.time_base
        clip = [(f.pts, cv2.resize(f.to_ndarray(format="bgr24"), (1280, 720), interpolation=cv2.INTER_CUBIC))
                for f in c.decode(v)]
    span = clip[-1][0] - clip[0][0] + round(1 / (rate * time_base))
    with av.open(str(dst), "w") as o:
        s = o.add_stream("libx264", rate=rate)
        s.width, s.height, s.pix_fmt = 1280, 720, "yuv420p"
        s.codec_context.time_base = time_base
        s.options = {"crf": "16", "preset": "veryfast"}
        for k in range(loops):
            for pts, img in clip:
                nf = av.VideoFrame.from_ndarray(img, format="bgr24")
                nf.pts, nf.time_base = pts + k * span, time_base
                for p in s.encode(nf):
                    o.mux(p)
                n += 1
        for p in s.encode(None):
            o.mux(p)
    return n


def frames(path: Path):
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            yield f.to_ndarray(format="bgr24")


def sharp(img, x, y, w, h) -> float:
    roi = cv2.cvtColor(img[y:y + h, x:x + w], cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(roi, cv2.CV_64F).var())


def missed_by_bystander(src: Path, deface_out: Path, bystander_out: Path) -> tuple[int, int]:
    """(regions deface covered, of those left sharp by bystander)."""
    covered = missed = 0
    for a, d, b in zip(frames(src), frames(deface_out), frames(bystander_out)):
        solid = ((d.max(axis=2) < 16) & (a.max(axis=2) > 48)).astype(np.uint8)
        n, _, stats, _ = cv2.connectedComponentsWithStats(solid)
        for x, y, w, h, area in stats[1:]:
            if area < 150 or min(w, h) < 10:
                continue
            before = sharp(a, x, y, w, h)
            if before < 20:  # nothing recognisable there to begin with
                continue
            covered += 1
            missed += sharp(b, x, y, w, h) > 0.5 * before
    return covered, missed


def timed(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--deface", default=str(ROOT / ".venv-bench" / "bin" / "deface"))
    ap.add_argument("--loops", type=int, default=3,
                    help="each clip repeated this many times, so start-up weighs as on a longer file")
    args = ap.parse_args()
    if not Path(args.deface).exists():
        sys.exit(f"deface not found at {args.deface}: python3 -m venv .venv-bench && "
                 ".venv-bench/bin/pip install deface (or make bench-video)")
    bystander = [sys.executable, "-m", "bystander"]
    # (--detect-every, --preset): the defaults first, then the faster settings a user can pick.
    settings = [(1, "veryfast"), (2, "veryfast"), (3, "veryfast"), (1, "ultrafast"), (3, "ultrafast")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "home").mkdir()
        for src in SOURCES:
            clip = tmp / f"{src.stem}-720p.mp4"
            n = scale_to_720p(src, clip, args.loops)
            d_out = tmp / f"{src.stem}-deface.mp4"
            d_s = timed([args.deface, str(clip), "-o", str(d_out), "--replacewith", "solid"])
            for k, preset in settings:
                b_out = tmp / f"{src.stem}-bystander-{k}-{preset}.mp4"
                b_s = timed(bystander + ["--home", str(tmp / "home"), "video", str(clip), "-o", str(b_out),
                                         "--everyone", "-q", "--detect-every", str(k), "--preset", preset])
                covered, missed = missed_by_bystander(clip, d_out, b_out)
                rows.append((src.name, (k, preset), n, n / b_s, n / d_s, covered, missed))
    print(f"720p (1280x720), each clip looped {args.loops}x; whole command wall time incl. model load; 2-core machine")
    print(f"{'video':<28}{'every':>6}{'preset':>10}{'frames':>7}{'bystander fps':>15}{'deface fps':>12}"
          f"{'ratio':>8}{'deface faces':>14}{'left sharp':>12}")
    for name, (k, preset), n, bf, df, covered, missed in rows:
        print(f"{name:<28}{k:>6}{preset:>10}{n:>7}{bf:>15.1f}{df:>12.2f}{bf / df:>7.1f}x{covered:>14}{missed:>12}")
    for k, preset in settings:
        sub = [r for r in rows if r[1] == (k, preset)]
        tb = sum(r[2] for r in sub) / sum(r[2] / r[3] for r in sub)
        td = sum(r[2] for r in sub) / sum(r[2] / r[4] for r in sub)
        print(f"{'all':<28}{k:>6}{preset:>10}{sum(r[2] for r in sub):>7}{tb:>15.1f}{td:>12.2f}{tb / td:>7.1f}x"
              f"{sum(r[5] for r in sub):>14}{sum(r[6] for r in sub):>12}"
              f"   goal >= 8x: {'met' if tb / td >= 8 else 'NOT met'}")

if __name__ == "__main__":
    main()
