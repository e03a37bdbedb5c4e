"""What each step down of live's detection costs in faces left sharp, on the faces a person labelled.

    .venv/bin/python benchmarks/strides.py [--loops 2]

The pedestrian clip (tests/gt/pedestrians.gt.json: 14 people, crossings, faces half hidden behind
others) is decoded to 1280x720 as a stepped-down 1080p stream is, and judged as live judges it (its
detector settings, the look-ahead window of the default --delay), with detection on a fixed schedule:
on every ``stride``-th frame, at the analysis size given, from each possible first frame in turn.
Printed per schedule: the labelled face-frames of 20 px or more the shared judge
(../shared/eval/score.py) reads as still visible in the redacted frames, over all phases. Nothing is
encoded: this is the judge's share of what ``benchmarks/live.py`` measures through a real relay,
without the relay's timing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from labelled import shared_score, video_faces  # noqa: E402

MEDIA = ROOT.parent / "shared" / "media"
CLIP = MEDIA / "facenet_pytorch" / "video.mp4"
GT = ROOT / "tests" / "gt" / "pedestrians.gt.json"
SIZE = (1280, 720)
SCHEDULES = [(1280, 1), (1280, 2), (960, 1), (960, 2), (960, 4), (960, 6)]


def left_sharp(frames, faces, size: int, stride: int, phase: int, loops: int, judge_rule) -> tuple[int, int]:
    from bystander.engine import Engine, EngineConfig
    from bystander.engine.judge import Judge, Mode
    from bystander.live.judging import look_ahead
    from bystander.live.schedule import live_settings

    engine = Engine(config=EngineConfig(everyone=True)).with_config(**live_settings())
    judge = Judge(engine, window=look_ahead(0.5, 30))
    judge.look_again = False  # as live runs it
    judged = []
    for k in range(len(frames) * loops):
        mode = Mode.DETECT if (k + phase) % stride == 0 else Mode.SKIP
        judged += judge.push(frames[k % len(frames)], k, mode, size)
    judged += judge.flush()
    checked = visible = 0
    grey = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY).astype(np.float32) for f in frames]
    for j in judged:
        i = j.payload % len(frames)
        out = cv2.cvtColor(engine.redact_decisions(j.image.copy(), j.decisions), cv2.COLOR_BGR2GRAY).astype(np.float32)
        for x1, y1, x2, y2 in faces[i]:
            if y2 - y1 < 20:
                continue
            m = judge_rule.measure(grey[i], out, [x1, y1, x2 - x1, y2 - y1])
            if m is None:
                continue
            verdict = judge_rule.decide(m, "bystander")
            checked += verdict != "UNMEASURABLE"
            visible += verdict == "VISIBLE"
    return checked, visible


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--loops", type=int, default=2, help="times the clip is judged in a row (its end cuts to its start)")
    a = ap.parse_args()
    with av.open(str(CLIP)) as c:
        frames = [f.to_ndarray(width=SIZE[0], height=SIZE[1], format="bgr24") for f in c.decode(video=0)]
    faces = video_faces(GT, SIZE[0])  # nobody registered: every face is one to blur
    rule = shared_score()
    print(f"{'analysis size':>13} {'stride':>6} {'labelled face-frames':>20} {'left sharp':>10} {'share':>7}")
    for size, stride in SCHEDULES:
        checked = visible = 0
        for phase in range(stride):
            c, v = left_sharp(frames, faces, size, stride, phase, a.loops, rule)
            checked, visible = checked + c, visible + v
        print(f"{size:>13} {stride:>6} {checked:>20} {visible:>10} {visible / max(checked, 1):>7.2%}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
