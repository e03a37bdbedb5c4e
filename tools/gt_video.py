"""Make and check face ground truth for a video, in the scorer's "faceblur-eval-gt/1" format.

    .venv/bin/python tools/gt_video.py propose VIDEO OUT.gt.json [--registered N:X0,Y0,X1,Y1]
    .venv/bin/python tools/gt_video.py draw VIDEO GT.json OUTDIR [--frames 0,10,20] [--crop X0,Y0,X1,Y1]
    .venv/bin/python tools/gt_video.py recount GT.json

``propose`` runs YuNet and CenterFace on every frame at full resolution, links the boxes into tracks by
overlap, fills gaps of up to ``--max-gap`` frames by linear interpolation ("source": "interpolated") and
labels every track "bystander", except the one whose box on frame N lies inside the ``--registered``
region. The result is a proposal: check it by eye with ``draw``, edit it (boxes added by hand carry
"source": "manual"), then ``recount`` to refresh the per-track ranges and the summary.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from bystander.engine.centerface import CenterFace
from bystander.engine.detect import YuNet
from bystander.engine.photo_detect import merge
from bystander.engine.track import iou

Box = tuple[float, float, float, float]  # x1, y1, x2, y2
COLOURS = {"registered": (0, 200, 0), "bystander": (0, 0, 255), "ignored": (160, 160, 160)}


def frames(path: str) -> Iterator[tuple[int, int, Fraction, np.ndarray]]:
    """(index, pts, time base, BGR image) for each decoded frame of the first video stream."""
    with av.open(path) as container:
        stream = container.streams.video[0]
        for i, frame in enumerate(container.decode(stream)):
            yield i, int(frame.pts), stream.time_base, frame.to_ndarray(format="bgr24")


def media_info(path: str) -> dict:
    with av.open(path) as container:
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        time_base, fps = stream.time_base, stream.average_rate
    return dict(file=Path(path).name, sha256=hashlib.sha256(Path(path).read_bytes()).hexdigest(),
                width=width, height=height, frame_count=0, shot_cuts=[],
                time_base=f"{time_base.numerator}/{time_base.denominator}", avg_fps=round(float(fps), 3))


def detect(path: str) -> tuple[list[list[Box]], list[int], Fraction]:
    """Faces per frame (YuNet, then what only CenterFace found), frame pts and the stream's time base."""
    yunet, centerface = YuNet(threshold=0.4), CenterFace(threshold=0.2)
    boxes: list[list[Box]] = []
    pts: list[int] = []
    time_base = Fraction(1)
    for _, p, time_base, img in frames(path):
        size = max(img.shape[:2])
        found = merge([yunet.detect(img, size), centerface.detect(img, size)], 0.3)
        boxes.append([f.box for f in found])
        pts.append(p)
    return boxes, pts, time_base


def _same(a: Box, b: Box) -> float:
    """How well ``b`` continues a track last at ``a``: IoU, or for fast small faces a near centre."""
    overlap = iou(a, b)
    if overlap > 0:
        return overlap
    ha, hb = a[3] - a[1], b[3] - b[1]
    dist = np.hypot((a[0] + a[2] - b[0] - b[2]) / 2, (a[1] + a[3] - b[1] - b[3]) / 2)
    return 0.01 if 0.5 <= ha / hb <= 2.0 and dist < 0.6 * max(ha, hb) else 0.0


def link(per_frame: list[list[Box]], max_gap: int) -> list[dict[int, Box]]:
    """Tracks (frame index -> box) by greedy best-overlap association with tracks seen <= max_gap ago."""
    tracks: list[dict[int, Box]] = []
    for i, boxes in enumerate(per_frame):
        live = [t for t in tracks if i - max(t) <= max_gap + 1]
        pairs = sorted(((_same(t[max(t)], b), ti, bi) for ti, t in enumerate(live) for bi, b in enumerate(boxes)),
                       reverse=True)
        used_t, used_b = set(), set()
        for score, ti, bi in pairs:
            if score > 0 and ti not in used_t and bi not in used_b:
                live[ti][i] = boxes[bi]
                used_t.add(ti)
                used_b.add(bi)
        tracks += [{i: b} for bi, b in enumerate(boxes) if bi not in used_b]
    return tracks


def fill_gaps(track: dict[int, Box]) -> dict[int, tuple[Box, str | None]]:
    """The track with each missing frame between two detections placed linearly between them."""
    out: dict[int, tuple[Box, str | None]] = {i: (b, None) for i, b in track.items()}
    keys = sorted(track)
    for a, b in zip(keys, keys[1:]):
        for i in range(a + 1, b):
            k = (i - a) / (b - a)
            out[i] = (tuple(p + (q - p) * k for p, q in zip(track[a], track[b])), "interpolated")
    return out


def _inside(box: Box, region: Box) -> bool:
    return box[0] >= region[0] and box[1] >= region[1] and box[2] <= region[2] and box[3] <= region[3]


def propose(path: str, max_gap: int, registered: tuple[int, Box] | None, case: str) -> dict:
    per_frame, pts, time_base = detect(path)
    media = media_info(path)
    media["frame_count"] = len(per_frame)
    gt = dict(schema="faceblur-eval-gt/1", case=case, kind="video", media=media, registered=[], summary={},
              tracks={}, frames=[dict(i=i, t=round(float((p - pts[0]) * time_base), 4), pts=p, faces=[])
                                 for i, p in enumerate(pts)])
    for tid, track in enumerate(link(per_frame, max_gap), 1):
        label = "bystander"
        if registered and registered[0] in track and _inside(track[registered[0]], registered[1]):
            label = "registered"
        gt["tracks"][str(tid)] = dict(label=label, ignore=None, note="")
        for i, (b, source) in sorted(fill_gaps(track).items()):
            face = dict(box=[round(v, 1) for v in (b[0], b[1], b[2] - b[0], b[3] - b[1])], label=label,
                        track=tid, ignore=False)
            if source:
                face["source"] = source
            gt["frames"][i]["faces"].append(face)
    if registered:
        x0, y0, x1, y1 = (round(v) for v in registered[1])
        gt["registered"] = [dict(name="registered", photo=f"crop of frame {registered[0]} x{x0}-{x1} y{y0}-{y1}")]
    return recount(gt)


def recount(gt: dict) -> dict:
    """Per-track first/last/n_detected, ignore reasons and labels, and the summary, from the frames."""
    faces = [(f["i"], face) for f in gt["frames"] for face in f["faces"]]
    for tid, t in gt["tracks"].items():
        own = [(i, face) for i, face in faces if str(face["track"]) == tid]
        t["first"] = min((i for i, _ in own), default=None)
        t["last"] = max((i for i, _ in own), default=None)
        t["n_detected"] = sum(1 for _, face in own if not face.get("source"))
        for _, face in own:
            face["label"] = t["label"]
    gt["tracks"] = {k: v for k, v in gt["tracks"].items() if v["first"] is not None}
    scored = [face for _, face in faces if not face.get("ignore")]
    gt["summary"] = dict(
        frames=len(gt["frames"]), boxes=len(faces),
        registered=sum(1 for face in scored if face["label"] == "registered"),
        bystander=sum(1 for face in scored if face["label"] == "bystander"),
        ignored=len(faces) - len(scored), tracks=len(gt["tracks"]),
        interpolated=sum(1 for _, face in faces if face.get("source") == "interpolated"),
        manual=sum(1 for _, face in faces if face.get("source") == "manual"))
    return gt


def draw(path: str, gt: dict, wanted: set[int], out: Path, crop: Box | None, scale: float) -> list[Path]:
    """PNGs of the chosen frames with each GT box, its track id and source (i: interpolated, m: manual)."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for i, _, _, img in frames(path):
        if i not in wanted:
            continue
        x0, y0, x1, y1 = (int(v) for v in (crop or (0, 0, img.shape[1], img.shape[0])))
        view = cv2.resize(img[y0:y1, x0:x1], None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        for face in gt["frames"][i]["faces"]:
            x, y, w, h = face["box"]
            colour = COLOURS["ignored" if face.get("ignore") else face["label"]]
            p = (round((x - x0) * scale), round((y - y0) * scale))
            q = (round((x + w - x0) * scale), round((y + h - y0) * scale))
            cv2.rectangle(view, p, q, colour, 1)
            tag = f"{face['track']}{(face.get('source') or ' ')[0].strip()}"
            cv2.putText(view, tag, (p[0], max(12, p[1] - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1)
        cv2.putText(view, f"frame {i}", (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2)
        written.append(out / f"f{i:03d}.png")
        cv2.imwrite(str(written[-1]), view)
    return written


def _box(text: str) -> Box:
    x0, y0, x1, y1 = (float(v) for v in text.split(","))
    return x0, y0, x1, y1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("propose", help="detect, link and interpolate: a GT proposal to check by eye")
    p.add_argument("video")
    p.add_argument("out")
    p.add_argument("--max-gap", type=int, default=5, help="longest run of missed frames filled in a track")
    p.add_argument("--registered", help="N:X0,Y0,X1,Y1: the track inside this region on frame N is registered")
    p.add_argument("--case", help="case name (default: the video's stem)")
    d = sub.add_parser("draw", help="draw a GT file's boxes onto frames as PNGs")
    d.add_argument("video")
    d.add_argument("gt")
    d.add_argument("outdir")
    d.add_argument("--frames", help="comma-separated frame indices (default: every 10th)")
    d.add_argument("--crop", type=_box, help="X0,Y0,X1,Y1 region to keep")
    d.add_argument("--scale", type=float, default=1.0, help="enlargement of the (cropped) frame")
    r = sub.add_parser("recount", help="refresh track ranges and the summary after editing")
    r.add_argument("gt")
    a = ap.parse_args()

    if a.command == "propose":
        reg = None
        if a.registered:
            n, region = a.registered.split(":")
            reg = (int(n), _box(region))
        gt = propose(a.video, a.max_gap, reg, a.case or Path(a.video).stem)
        Path(a.out).write_text(json.dumps(gt, indent=1) + "\n")
        print(json.dumps(gt["summary"]))
    elif a.command == "draw":
        gt = json.loads(Path(a.gt).read_text())
        n = len(gt["frames"])
        wanted = {int(v) for v in a.frames.split(",")} if a.frames else set(range(0, n, 10)) | {n - 1}
        for png in draw(a.video, gt, wanted, Path(a.outdir), a.crop, a.scale):
            print(png)
    else:
        gt = recount(json.loads(Path(a.gt).read_text()))
        Path(a.gt).write_text(json.dumps(gt, indent=1) + "\n")
        print(json.dumps(gt["summary"]))


if __name__ == "__main__":
    main()
