"""Sustained live relays at 720p30 and 1080p30 through real nginx-rtmp and ffmpeg publishers.

    make bench-live      (or: .venv/bin/python benchmarks/live.py [--seconds 120])

Each run publishes a real clip, scaled up and looped to --seconds, in real time (ffmpeg -re) to
``bystander live``, which relays to a local nginx-rtmp that records. Printed per run: output fps
and its steadiness (from the recording's timestamps), added latency p50/p95 (bystander's own
measure: a frame's arrival at the ingest to its hand-off to the destination socket), CPU share of
the cores it may use for the bystander process while streaming, frames tracked without detection and frames
redacted whole. On the pedestrian clip (faces 20-100 px at 1080p, 13-67 px at 720p), faces of 20 px
or more in the picture sent (a relay that stepped down is judged at the size it sent) are looked for
in the recorded output, and the shared judge (../shared/eval/score.py) says which it leaves visible:
``detected sharp`` for the faces the detector finds offline at full resolution in the input,
``labelled sharp`` for those a person boxed (tests/gt/pedestrians.gt.json). With the walker
registered, ``registered shown`` is the faces kept per frame he is in. ``--cpus 0`` runs bystander (and its ingest server) on core 0 alone, the publisher and the
recording server on the others: a machine half as fast, with the streamer's encoder where it is in
use, elsewhere. Under ``taskset -c 0`` everything shares one core, the publisher's encoder too.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from groups_cases import walker_crop  # noqa: E402
from labelled import shared_score, video_faces  # noqa: E402
from live_harness import (FRAME, Bystander, Destination, build_looped_input, circular, publish,  # noqa: E402
                          small_grey, video_size, video_times)

MEDIA = ROOT.parent / "shared" / "media"
PEDESTRIANS = MEDIA / "facenet_pytorch" / "video.mp4"
PEDESTRIANS_GT = ROOT / "tests" / "gt" / "pedestrians.gt.json"
# Who is registered: Lin-Manuel Miranda, the walker in glasses (from a crop of the clip's last frame),
# or nobody (--everyone).
RUNS = [
    ("720p30", MEDIA / "face_recognition" / "short_hamilton_clip.mp4", (1280, 720), "lin"),
    ("720p30-crowd", PEDESTRIANS, (1280, 720), None),
    ("720p30-walker", PEDESTRIANS, (1280, 720), "walker"),
    ("1080p30", PEDESTRIANS, (1920, 1080), None),
]
KEY = "bench-key"
REFERENCE_THRESHOLD = 0.4  # the offline detector whose faces are looked for, whatever live uses


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sharp_faces(clip: Path, size, recording: Path, loop_s: float) -> dict[str, tuple[int, int]]:
    """Face-frames of 20 px or more in the output that the judge can measure, and how many of them
    the output leaves visible: ``detected``, the faces the detector finds offline at full resolution
    (some are not faces: the back of a head, a shape in a dark window); ``labelled``, on the
    pedestrian clip, the faces a person boxed."""
    from bystander.engine import Engine, EngineConfig

    judge = shared_score()

    detector = Engine(config=EngineConfig(analysis_size=max(size), detect_threshold=REFERENCE_THRESHOLD)).detector
    with av.open(str(clip)) as c:
        src = [cv2.resize(f.to_ndarray(format="bgr24"), size, interpolation=cv2.INTER_CUBIC)
               for f in c.decode(video=0)]
    small = np.stack([small_grey(img) for img in src])
    out = []
    with av.open(str(recording)) as c:
        for f in c.decode(video=0):
            out.append((float(f.pts * f.time_base), f.to_ndarray(format="bgr24")))
    offsets = []
    for t, img in out[30:30 + 40 * 7:7]:
        j = int(np.abs(small - small_grey(img)).mean(axis=(1, 2)).argmin())
        offsets.append(circular(j * float(FRAME) - t, loop_s))
    ref = offsets[0]
    offset = ref + float(np.median([circular(o - ref, loop_s) for o in offsets]))
    # A stream the relay stepped down is judged at the size it was sent: the input and its faces
    # scaled, and the faces counted are those of 20 px or more there.
    sent = (out[0][1].shape[1], out[0][1].shape[0])
    scale = sent[0] / size[0]
    boxes = {"detected": {j: [tuple(v * scale for v in f.box) for f in detector.detect(img)] for j, img in enumerate(src)}}
    if clip == PEDESTRIANS:
        # Nobody is registered in the runs that count faces: the walker's is one to blur too.
        boxes["labelled"] = video_faces(PEDESTRIANS_GT, sent[0])
    grey = [cv2.cvtColor(cv2.resize(img, sent, interpolation=cv2.INTER_AREA) if sent != tuple(size) else img,
                         cv2.COLOR_BGR2GRAY).astype(np.float32) for img in src]
    counts = {name: [0, 0] for name in boxes}
    for t, img in out:
        j = int(round((t + offset) / float(FRAME))) % len(src)
        out_grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32)
        for name, by_frame in boxes.items():
            for x1, y1, x2, y2 in by_frame[j]:
                if y2 - y1 < 20:
                    continue
                m = judge.measure(grey[j], out_grey, [x1, y1, x2 - x1, y2 - y1])
                if m is None:
                    continue
                verdict = judge.decide(m, "bystander")
                counts[name][0] += verdict != "UNMEASURABLE"
                counts[name][1] += verdict == "VISIBLE"
    return {name: (checked, visible) for name, (checked, visible) in counts.items()}


def run(name, clip, size, register, seconds, tmp: Path, extra_args=(), cpus: set[int] | None = None) -> dict:
    from conftest import run_cli

    work = tmp / name
    work.mkdir()
    home = work / "home"
    home.mkdir()
    extra = ["--grace", "2", *extra_args]
    if register == "lin":
        run_cli("faces", "add", "lin", MEDIA / "face_recognition" / "lin-manuel-miranda.png", home=home, check=True)
    elif register == "walker":
        run_cli("faces", "add", "walker", walker_crop(work / "walker.png"), "--largest", home=home, check=True)
    else:
        extra.append("--everyone")
    src = work / "input.flv"
    one = build_looped_input(clip, src, 1, size)
    loop_s = build_looped_input(clip, src, math.ceil(seconds / one), size)
    with Destination(work / "rec") as dst:
        by = Bystander(work, home, KEY, [dst.url("app", "dest")], *extra, cpus=cpus)
        pub = publish(src, f"{by.ingest_url}/{KEY}")
        if by.wait_for(lambda s: s["frames"] > 30, 60) is None:
            raise RuntimeError(by.stderr())
        cpu0, t0 = cpu_seconds(by.proc.pid), time.monotonic()
        pub.wait()
        cpu1, t1 = cpu_seconds(by.proc.pid), time.monotonic()
        by.wait(60)
        recording = dst.recordings()[0]
    final = by.status()[-1]
    times = np.array(video_times(recording))
    gaps = np.diff(times)
    row = {
        "run": name, "seconds": round(times[-1] - times[0], 1),
        "fps_out": (len(times) - 1) / (times[-1] - times[0]),
        "worst_gap_ms": gaps.max() * 1000,
        "p50": final["latency_ms_p50"], "p95": final["latency_ms_p95"],
        "cpu": (cpu1 - cpu0) / (t1 - t0) / len(cpus or os.sched_getaffinity(0)),
        "sent": "x".join(map(str, video_size(recording))),
        "frames": final["frames"], "reduced": final["reduced"], "coast": final["coast"], "blank": final["blank"],
    }
    if not register:
        row["sharp"] = sharp_faces(clip, size, recording, loop_s)
    elif register == "walker":
        # Faces kept (only he is registered) per frame he is in: 82 of the clip's 105 (tests/gt).
        gt = json.loads(PEDESTRIANS_GT.read_text())["summary"]
        row["shown"] = final["faces_kept"] / (final["frames"] * gt["registered"] / gt["frames"])
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--only", choices=[r[0] for r in RUNS])
    ap.add_argument("--analysis-size", type=int, help="passed on to bystander live")
    ap.add_argument("--detect-every", type=int, choices=(1, 2), help="passed on to bystander live (a fixed stride)")
    ap.add_argument("--cpus", help="cores bystander alone may run on, comma-separated (e.g. 0)")
    a = ap.parse_args()
    cpus = {int(c) for c in a.cpus.split(",")} if a.cpus else None
    if cpus:
        # Everything else (the publisher, the recording server) runs on the other cores.
        rest = os.sched_getaffinity(0) - cpus
        if rest:
            os.sched_setaffinity(0, rest)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bystander-bench-live-") as tmp:
        for name, clip, size, register in RUNS:
            if a.only and name != a.only:
                continue
            extra = ["--analysis-size", str(a.analysis_size)] if a.analysis_size else []
            extra += ["--detect-every", str(a.detect_every)] if a.detect_every else []
            rows.append(run(name, clip, size, register, a.seconds, Path(tmp), extra, cpus))
            print(f"done {name}", file=sys.stderr)
    print(f"{'run':12} {'length s':>8} {'fps out':>8} {'worst gap ms':>12} {'p50 ms':>7} {'p95 ms':>7} "
          f"{'CPU':>5} {'sent':>9} {'frames':>7} {'smaller':>7} {'no-detect':>9} {'whole':>6} {'detected sharp':>14} "
          f"{'labelled sharp':>14} "
          f"{'registered shown':>16}")
    for r in rows:
        detected, labelled = (f"{r['sharp'][k][1]}/{r['sharp'][k][0]}" if k in r.get("sharp", {}) else "-"
                              for k in ("detected", "labelled"))
        shown = f"{r['shown']:.2f}" if "shown" in r else "-"
        print(f"{r['run']:12} {r['seconds']:8.1f} {r['fps_out']:8.3f} {r['worst_gap_ms']:12.0f} {r['p50']:7.1f} "
              f"{r['p95']:7.1f} {r['cpu'] * 100:4.0f}% {r['sent']:>9} {r['frames']:7d} {r['reduced']:7d} {r['coast']:9d} {r['blank']:6d} "
              f"{detected:>14} {labelled:>14} {shown:>16}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
