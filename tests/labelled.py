"""The labelled face set: photos and video frames from ../shared/media on which a person drew a box
around every face (``gt/labelled_faces.gt.json``), and how outputs are judged on it face by face,
class by class, with the shared judge's rule (../shared/eval/score.py: ``measure`` and ``decide``).

The media stays in ../shared: ``materialise`` writes each image (a photo as it is, a video frame
decoded by its index) into a folder; ``still_videos`` makes each into a short video of identical
frames, for the video path.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
GT = ROOT / "tests" / "gt" / "labelled_faces.gt.json"
CLASSES = ("frontal", "profile", "tilted", "border", "hidden", "small", "blurred", "printed")
STILL_FRAMES = 10


def shared_score():
    """The shared judge (../shared/eval/score.py): ``measure`` and ``decide`` a face box by box."""
    spec = importlib.util.spec_from_file_location("shared_score", SHARED / "eval" / "score.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def video_faces(gt_path: Path, width: int) -> dict[int, list[tuple[float, float, float, float]]]:
    """A video's faces as a person boxed them (a ``tests/gt/*.gt.json`` of the shared format, ignored
    boxes left out), frame by frame, as (x1, y1, x2, y2) in a picture ``width`` wide."""
    gt = json.loads(gt_path.read_text())
    scale = width / gt["media"]["width"]
    return {frame["i"]: [(x * scale, y * scale, (x + w) * scale, (y + h) * scale)
                         for x, y, w, h in (f["box"] for f in frame["faces"] if not f["ignore"])]
            for frame in gt["frames"]}


@dataclass(frozen=True)
class Labelled:
    file: str  # the image's name in the folder ``materialise`` writes
    face: int  # its index among the image's faces
    box: tuple[float, float, float, float]  # x, y, w, h
    classes: tuple[str, ...]


def load() -> dict:
    return json.loads(GT.read_text())


def faces(gt: dict) -> list[Labelled]:
    """Every face scored: those a person could tell for a face (not ``ignore``)."""
    return [Labelled(it["file"], k, tuple(f["box"]), tuple(f["classes"]))
            for it in gt["images"] for k, f in enumerate(it["faces"]) if not f.get("ignore")]


def materialise(gt: dict, media: Path, folder: Path) -> list[Path]:
    """Each image of ``gt`` written into ``folder``, checked against its recorded digest."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for it in gt["images"]:
        src = media / it["source"]
        dst = folder / it["file"]
        if it.get("frame") is None:
            shutil.copyfile(src, dst)
            data = dst.read_bytes()
        else:
            with av.open(str(src)) as c:
                frame = next(f for k, f in enumerate(c.decode(video=0)) if k == it["frame"])
                image = frame.to_ndarray(format="bgr24")
            cv2.imwrite(str(dst), image)
            data = image.tobytes()
        if hashlib.sha256(data).hexdigest() != it["sha256"]:
            raise AssertionError(f"{it['file']}: not the image that was labelled ({it['source']})")
        paths.append(dst)
    return paths


def still_videos(images: list[Path], folder: Path, frames: int = STILL_FRAMES) -> list[Path]:
    """Each image as an H.264 video of ``frames`` identical frames at 25 fps (cut to even sides)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for path in images:
        image = cv2.imread(str(path))
        h, w = image.shape[0] // 2 * 2, image.shape[1] // 2 * 2
        image = np.ascontiguousarray(image[:h, :w])
        dst = folder / f"{path.stem}.mp4"
        with av.open(str(dst), "w") as c:
            s = c.add_stream("libx264", rate=25)
            s.width, s.height, s.pix_fmt = w, h, "yuv420p"
            s.options = {"crf": "10", "preset": "veryfast"}
            for _ in range(frames):
                for packet in s.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                    c.mux(packet)
            for packet in s.encode():
                c.mux(packet)
        out.append(dst)
    return out


def _grey_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="gray") for f in c.decode(video=0)]


def visible_in_photos(gt: dict, inputs: Path, outputs: Path) -> dict[Labelled, bool]:
    """Whether each face reads VISIBLE in the output photo of the same name (a missing output: visible)."""
    score = shared_score()
    result = {}
    for face in faces(gt):
        out = outputs / face.file
        if not out.exists():
            result[face] = True
            continue
        gin = cv2.imread(str(inputs / face.file), cv2.IMREAD_GRAYSCALE)
        gout = cv2.imread(str(out), cv2.IMREAD_GRAYSCALE)
        result[face] = score.decide(score.measure(gin, gout, list(face.box)), "bystander") == "VISIBLE"
    return result


def visible_in_videos(gt: dict, inputs: Path, outputs: Path) -> dict[Labelled, bool]:
    """Whether each face reads VISIBLE in any frame of the output video made from its image."""
    score = shared_score()
    frames: dict[str, tuple[list, list]] = {}
    result = {}
    for face in faces(gt):
        stem = Path(face.file).stem
        if stem not in frames:
            out = outputs / f"{stem}.mp4"
            frames[stem] = (_grey_frames(inputs / f"{stem}.mp4"), _grey_frames(out) if out.exists() else [])
        ins, outs = frames[stem]
        if len(outs) != len(ins):
            result[face] = True
            continue
        result[face] = any(score.decide(score.measure(a, b, list(face.box)), "bystander") == "VISIBLE"
                           for a, b in zip(ins, outs))
    return result


def by_class(visible: dict[Labelled, bool]) -> dict[str, tuple[int, int]]:
    """(faces left visible, faces) for every class, and ``all``."""
    table = {"all": (sum(visible.values()), len(visible))}
    for cls in CLASSES:
        members = [v for f, v in visible.items() if cls in f.classes]
        if members:
            table[cls] = (sum(members), len(members))
    return table
