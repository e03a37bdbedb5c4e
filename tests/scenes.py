"""Group scenes composed from real clips and stills, written as H.264 files with scorer ground truth.

The face boxes of the sources were checked by eye and live in ``tests/gt/*.boxes.json``; a composed
scene's ground truth is those boxes moved by exactly the offset and scale each source was pasted with,
so it needs no detector. Files are written in the ``faceblur-eval-gt/1`` format read by
``../shared/eval/score.py`` (frames are paired by index; pts come from reading the written file back).

    side_by_side(gap, out_dir)                  the man and the woman shoulder to shoulder
    side_by_side(gap, out_dir, crossing=True)   ... walking past each other, one hiding the other
    panned_still(photo, out_dir)                a photo of two people, panned and zoomed
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media"
GT = Path(__file__).resolve().parent / "gt"
SIZE = (640, 360)
BACKGROUND = "negatives/view.jpg"
SOLO = {"male": "head_pose_male", "female": "head_pose_female"}
STILLS = {"two_people.jpg": "two_people", "kit_with_rose.jpg": "kit_with_rose",
          "obama_and_biden.jpg": "obama_and_biden"}
# Where a test finds a photo to register each person (the solo clips: any of their frames).
PHOTOS = {"male": "intel_sample_videos/head-pose-face-detection-male.gif",
          "female": "intel_sample_videos/head-pose-face-detection-female.gif",
          "obama": "face_recognition/knn_examples/train/obama/obama.jpg",
          "biden": "face_recognition/knn_examples/train/biden/biden.jpg",
          "kit_harington": "face_recognition/knn_examples/train/kit_harington/john1.jpeg",
          "rose_leslie": "face_recognition/knn_examples/train/rose_leslie/img1.jpg"}
HIDDEN = "hidden behind the other"
OUTSIDE = "mostly outside the frame"

Box = tuple[float, float, float, float]  # x, y, w, h
Rect = tuple[int, int, int, int]  # x0, y0, x1, y1 in whole pixels
Window = tuple[float, float, float]  # centre x, centre y, width of a 16:9 view of a still, in its pixels


def side_by_side(gap: float, out_dir: Path, crossing: bool = False, registered: Sequence[str] = ("male",),
                 front: str = "female", frames: int = 60) -> tuple[Path, Path]:
    """The man (left) and the woman (right) from their solo clips on one landscape, 640x360 at the clips'
    12.5 fps. Each is a rectangle around face and shoulders, shifted every frame so that the face boxes keep
    their place; the solo clips play back and forth to last ``frames``.

    Standing (``crossing=False``): the horizontal gap between the two face boxes is ``gap`` times their mean
    width on every frame (to a pixel); where the rectangles overlap, each person keeps their own side of the
    middle of the gap, so neither face is ever covered.
    Crossing: they start ``gap`` face widths apart (from the median widths), walk past each other at a steady
    speed and end as far apart with sides swapped. ``front`` walks in front: their head (face box and a
    tenth of a face width either side) and shoulders cover the other, whose box is clipped to what stays
    visible, or marked ignore ("hidden behind the other", its own track) while more than half is covered."""
    if not 0 < gap <= 2 or set(registered) - set(SOLO) or front not in SOLO:
        raise ValueError(f"gap {gap}, registered {registered}, front {front!r}")
    people = {who: _solo(who) for who in SOLO}
    width = {who: float(np.median([b[2] for b in boxes])) for who, (_, boxes) in people.items()}
    cut = {who: _cutout(boxes) for who, (_, boxes) in people.items()}
    background = _cover(cv2.imread(str(MEDIA / BACKGROUND)), SIZE)
    drop = SIZE[1] - people["male"][0][0].shape[0]  # sources stand on the bottom edge
    back = "male" if front == "female" else "female"
    tracks = _Tracks(registered)
    canvas_frames, gt_faces = [], []
    for k in range(frames):
        img, box = {}, {}
        for who, (clip, boxes) in people.items():
            j = _ping_pong(k, len(clip))
            img[who], box[who] = clip[j], boxes[j]
        if crossing:
            # centre-to-centre distance goes from +D to -D: the man starts on the left and ends on the right
            d = (1 + gap) * (width["male"] + width["female"]) / 2 * (1 - 2 * k / max(1, frames - 1))
            centre = {"male": SIZE[0] / 2 - d / 2, "female": SIZE[0] / 2 + d / 2}
        else:
            inner = gap * (box["male"][2] + box["female"][2]) / 4  # half the gap, either side of the middle
            centre = {"male": SIZE[0] / 2 - inner - box["male"][2] / 2,
                      "female": SIZE[0] / 2 + inner + box["female"][2] / 2}
        shift = {who: round(centre[who] - (box[who][0] + box[who][2] / 2)) for who in SOLO}
        placed = {who: (box[who][0] + shift[who], box[who][1] + drop, box[who][2], box[who][3]) for who in SOLO}
        left, right = sorted(SOLO, key=lambda who: placed[who][0])
        seam = round((placed[left][0] + placed[left][2] + placed[right][0]) / 2)  # the middle of the gap
        frame = background.copy()
        for who in SOLO:
            x0, y0, x1, y1 = _moved(cut[who](box[who])[0], shift[who], drop)
            lo, hi = (x0, min(x1, seam)) if who == left else (max(x0, seam), x1)
            _paste(frame, img[who], (lo, y0, hi, y1), shift[who], drop)
        faces = []
        if crossing:
            # the head of the one behind over the other's cut-out, then the one in front: their head and
            # shoulders are all that hides the other (the shoulders of the one behind stay in the cut-outs)
            head = _moved(cut[back](box[back])[1], shift[back], drop)
            _paste(frame, img[back], head, shift[back], drop)
            cover = [_moved(r, shift[front], drop) for r in cut[front](box[front])[1:]]
            for rect in cover:
                _paste(frame, img[front], rect, shift[front], drop)
            faces.append(tracks.face(front, placed[front]))
            visible, covered = _uncovered(placed[back], cover)
            faces.append(tracks.face(back, placed[back], HIDDEN) if covered > 0.5 else tracks.face(back, visible))
        else:
            faces += [tracks.face(who, placed[who]) for who in SOLO]
        canvas_frames.append(frame)
        gt_faces.append(faces)
    case = f"side_by_side_gap{gap:g}" + (f"_crossing_{front}_in_front" if crossing else "") + _who(registered)
    composition = dict(sources={who: SOLO[who] + ".boxes.json" for who in SOLO}, background=BACKGROUND,
                       gap=gap, crossing=crossing, front=front if crossing else None)
    return _write(case, out_dir, canvas_frames, Fraction(25, 2), gt_faces, tracks, composition)


def panned_still(photo: Path, out_dir: Path, registered: Sequence[str] | None = None, frames: int = 48,
                 fps: int = 24, start: Window | None = None, end: Window | None = None) -> tuple[Path, Path]:
    """A still (one of ``STILLS``) seen through a 640x360 window that pans and zooms at a steady pace from
    ``start`` to ``end``. By default it starts on the widest 16:9 view of the photo and closes in on the two
    main people (the first two faces in its boxes file). Boxes are clipped to the frame; a face more than half
    outside the frame is marked ignore ("mostly outside the frame", its own track). ``registered``: names from
    the boxes file, by default the first face."""
    name = STILLS[Path(photo).name]
    spec = json.loads((GT / f"{name}.boxes.json").read_text())
    still = cv2.imread(str(MEDIA / spec["source"]))
    H, W = still.shape[:2]
    names = [f["name"] for f in spec["faces"]]
    registered = names[:1] if registered is None else list(registered)
    if set(registered) - set(names):
        raise ValueError(f"registered {registered}: the faces in {name} are {names}")
    main = np.array([f["box"] for f in spec["faces"][:2]])
    x0, y0 = main[:, 0].min(), main[:, 1].min()
    x1, y1 = (main[:, 0] + main[:, 2]).max(), (main[:, 1] + main[:, 3]).max()
    widest = min(W, H * SIZE[0] / SIZE[1])
    tight = min(widest, 1.25 * max(x1 - x0, (y1 - y0) * SIZE[0] / SIZE[1]))
    start = start or ((x0 + x1) / 2, (y0 + y1) / 2, widest)
    end = end or ((x0 + x1) / 2, (y0 + y1) / 2, tight)
    tracks = _Tracks(registered)
    video, gt_faces = [], []
    for k in range(frames):
        a = k / max(1, frames - 1)
        cx, cy, w = (p + (q - p) * a for p, q in zip(start, end))
        h = w * SIZE[1] / SIZE[0]
        # keep the window inside the photo: a view never shows what is not in it
        left, top = min(max(cx - w / 2, 0.0), W - w), min(max(cy - h / 2, 0.0), H - h)
        s = SIZE[0] / w
        video.append(_view(still, left, top, s))
        faces = []
        for f in spec["faces"]:
            x, y, bw, bh = f["box"]
            box = ((x - left) * s, (y - top) * s, bw * s, bh * s)
            inside, outside = _in_frame(box)
            if inside is None:
                continue
            reason = f["ignore"] or (OUTSIDE if outside > 0.5 else None)
            faces.append(tracks.face(f["name"], inside, reason, f["source"] == "manual", f["note"]))
        gt_faces.append(faces)
    composition = dict(source=f"{name}.boxes.json", start=[round(v, 1) for v in start],
                       end=[round(v, 1) for v in end])
    return _write(f"panned_{name}{_who(registered)}", out_dir, video, Fraction(fps), gt_faces, tracks, composition)


# ----------------------------------------------------------------------------------------------- sources
def _solo(who: str) -> tuple[list[np.ndarray], list[Box]]:
    spec = json.loads((GT / f"{SOLO[who]}.boxes.json").read_text())
    with av.open(str(MEDIA / spec["source"])) as c:
        clip = [f.to_ndarray(format="bgr24") for f in c.decode(c.streams.video[0])]
    if len(clip) != len(spec["boxes"]):
        raise ValueError(f"{spec['source']}: {len(clip)} frames, {len(spec['boxes'])} boxes")
    return clip, [tuple(b) for b in spec["boxes"]]


def _cutout(boxes: list[Box]) -> Callable[[Box], tuple[Rect, Rect, Rect]]:
    """Rectangles of the person around a face box, in source pixels: the whole cut-out (from above the hair
    to the bottom of the source, 1.1 face widths beside the face), the head (a tenth of a face width beside
    the face, down to the neck) and the shoulders below it. Median sizes keep them from breathing with the
    detector's boxes."""
    w, h = float(np.median([b[2] for b in boxes])), float(np.median([b[3] for b in boxes]))
    top = max(0, round(float(np.median([b[1] for b in boxes])) - 0.45 * h))
    bottom = 10 ** 6  # clipped to the source when pasted

    def parts(box: Box) -> tuple[Rect, Rect, Rect]:
        x0, x1, neck = box[0], box[0] + box[2], round(box[1] + box[3] + 0.3 * h)
        wide = round(x0 - 1.1 * w), round(x1 + 1.1 * w)
        return ((wide[0], top, wide[1], bottom), (round(x0 - 0.1 * w), top, round(x1 + 0.1 * w), neck),
                (wide[0], neck, wide[1], bottom))
    return parts


def _moved(rect: Rect, dx: int, dy: int) -> Rect:
    return rect[0] + dx, rect[1] + dy, rect[2] + dx, rect[3] + dy


def _paste(frame: np.ndarray, src: np.ndarray, rect: Rect, dx: int, dy: int) -> None:
    """Copy ``rect`` (frame coordinates) from ``src`` placed at offset (dx, dy), clipped to both."""
    x0, y0 = max(rect[0], dx, 0), max(rect[1], dy, 0)
    x1 = min(rect[2], dx + src.shape[1], frame.shape[1])
    y1 = min(rect[3], dy + src.shape[0], frame.shape[0])
    if x1 > x0 and y1 > y0:
        frame[y0:y1, x0:x1] = src[y0 - dy:y1 - dy, x0 - dx:x1 - dx]


def _ping_pong(k: int, n: int) -> int:
    j = k % (2 * n - 2)
    return j if j < n else 2 * n - 2 - j


def _cover(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Scale to fill ``size`` and crop the middle (a backdrop keeps its proportions)."""
    k = max(size[0] / img.shape[1], size[1] / img.shape[0])
    big = cv2.resize(img, (max(size[0], round(img.shape[1] * k)), max(size[1], round(img.shape[0] * k))),
                     interpolation=cv2.INTER_AREA)
    x, y = (big.shape[1] - size[0]) // 2, (big.shape[0] - size[1]) // 2
    return big[y:y + size[1], x:x + size[0]].copy()


def _view(still: np.ndarray, left: float, top: float, s: float) -> np.ndarray:
    """The still at scale ``s`` with (left, top) at the frame's corner, in edge coordinates (a pixel spans
    [i, i+1)), so that a box maps as (x - left) * s exactly. Large shrinks go through INTER_AREA first."""
    src, kx, ky = still, 1.0, 1.0
    if s < 1:
        src = cv2.resize(still, (round(still.shape[1] * s), round(still.shape[0] * s)), interpolation=cv2.INTER_AREA)
        kx, ky = src.shape[1] / still.shape[1], src.shape[0] / still.shape[0]
    # pixel j of src spans [j, j+1) / k of the still; output pixel u spans [u, u+1) = s * (still x - left)
    m = np.array([[s / kx, 0, 0.5 * s / kx - s * left - 0.5], [0, s / ky, 0.5 * s / ky - s * top - 0.5]])
    return cv2.warpAffine(src, m, SIZE, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


# ----------------------------------------------------------------------------------------------- geometry
def _uncovered(face: Box, covers: list[Rect]) -> tuple[Box, float]:
    """What of ``face`` stays visible beside the one of ``covers`` that overlaps it, which must be taller
    than the face, and the share covered. Past half covered the rest is ignored, so one side is all to keep."""
    x, y, w, h = face
    over = [c for c in covers if c[0] < x + w and c[2] > x and c[1] < y + h and c[3] > y]
    if not over:
        return face, 0.0
    cover = over[0]
    if len(over) > 1 or cover[1] > y or cover[3] < y + h:
        raise ValueError(f"covers {over} do not hide face {face} from side to side")
    lo, hi = max(x, cover[0]), min(x + w, cover[2])
    left, right = lo - x, x + w - hi
    box = (x, y, left, h) if left >= right else (hi, y, right, h)
    return box, (hi - lo) / w


def _in_frame(face: Box) -> tuple[Box | None, float]:
    """The part of ``face`` inside the frame (None when under 2 px across) and the share outside."""
    x, y, w, h = face
    x0, y0, x1, y1 = max(x, 0.0), max(y, 0.0), min(x + w, SIZE[0]), min(y + h, SIZE[1])
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None, 1.0
    return (x0, y0, x1 - x0, y1 - y0), 1 - (x1 - x0) * (y1 - y0) / (w * h)


# ----------------------------------------------------------------------------------------------- output
class _Tracks:
    """One track per person and ignore reason: a face hidden for a while is an ignored track of its own."""

    def __init__(self, registered: Sequence[str]):
        self.registered = set(registered)
        self.ids: dict[tuple[str, str | None], int] = {}
        self.notes: dict[int, str] = {}

    def face(self, who: str, box: Box, ignore: str | None = None, manual: bool = False, note: str = "") -> dict:
        tid = self.ids.setdefault((who, ignore), len(self.ids) + 1)
        self.notes.setdefault(tid, f"{who}: {note}" if note else who)
        face = dict(box=[round(float(v), 1) for v in box], label=self.label(who), track=tid, ignore=ignore is not None)
        if manual:
            face["source"] = "manual"
        return face

    def label(self, who: str) -> str:
        return "registered" if who in self.registered else "bystander"

    def table(self, frames: list[dict]) -> dict:
        out = {}
        for (who, ignore), tid in self.ids.items():
            seen = [f["i"] for f in frames for face in f["faces"] if face["track"] == tid]
            manual = sum(1 for f in frames for face in f["faces"] if face["track"] == tid and face.get("source"))
            out[str(tid)] = dict(label=self.label(who), ignore=ignore, first=min(seen), last=max(seen),
                                 n_detected=len(seen) - manual, note=self.notes[tid])
        return out


def _who(registered: Sequence[str]) -> str:
    # the same scene with other people registered is another case: its files must not overwrite each other
    return "_registered_" + ("+".join(sorted(registered)) or "nobody")


def _write(case: str, out_dir: Path, images: list[np.ndarray], fps: Fraction, faces: list[list[dict]],
           tracks: _Tracks, composition: dict) -> tuple[Path, Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    video, gt_path = out_dir / f"{case}.mp4", out_dir / f"{case}.gt.json"
    with av.open(str(video), "w") as c:
        st = c.add_stream("libx264", rate=fps, options={"crf": "18"})
        st.width, st.height, st.pix_fmt = SIZE[0], SIZE[1], "yuv420p"
        for img in images:
            c.mux(st.encode(av.VideoFrame.from_ndarray(img, format="bgr24")))
        c.mux(st.encode())
    # the scorer pairs GT frames with decoded frames, so pts and time base come from the file as written
    with av.open(str(video)) as c:
        st = c.streams.video[0]
        pts = [int(f.pts) for f in c.decode(st)]
        time_base = st.time_base
    if len(pts) != len(images):
        raise RuntimeError(f"{video}: wrote {len(images)} frames, read back {len(pts)}")
    frames = [dict(i=i, t=round(float((p - pts[0]) * time_base), 4), pts=p, faces=f)
              for i, (p, f) in enumerate(zip(pts, faces))]
    every = [face for f in frames for face in f["faces"]]
    scored = [face for face in every if not face["ignore"]]
    gt = dict(
        schema="faceblur-eval-gt/1", case=case, kind="video",
        media=dict(file=video.name, sha256=hashlib.sha256(video.read_bytes()).hexdigest(), width=SIZE[0],
                   height=SIZE[1], frame_count=len(frames), shot_cuts=[],
                   time_base=f"{time_base.numerator}/{time_base.denominator}", avg_fps=round(float(fps), 3)),
        registered=[dict(name=who, photo=PHOTOS.get(who)) for who in sorted(tracks.registered)],
        summary=dict(frames=len(frames), boxes=len(every),
                     registered=sum(1 for face in scored if face["label"] == "registered"),
                     bystander=sum(1 for face in scored if face["label"] == "bystander"),
                     ignored=len(every) - len(scored), tracks=len(tracks.ids), interpolated=0,
                     manual=sum(1 for face in every if face.get("source") == "manual")),
        tracks=tracks.table(frames), composition=composition, frames=frames)
    gt_path.write_text(json.dumps(gt, indent=1) + "\n")
    return video, gt_path
