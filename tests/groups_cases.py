"""The group cases of "registered people stay visible among other people", shared by
tests/test_groups.py and benchmarks/groups.py: how each scene is made, who is registered, and how
the real ``bystander video`` output is scored with the shared judge."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Callable

import scenes

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SCORE = SHARED / "eval" / "score.py"
GT = Path(__file__).resolve().parent / "gt"
PEDESTRIANS = SHARED / "media" / "facenet_pytorch" / "video.mp4"
HAMILTON = SHARED / "media" / "face_recognition" / "short_hamilton_clip.mp4"


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable[[Path], tuple[Path, Path]]  # folder -> (video, ground truth)
    register: tuple[str, ...]  # scenes.PHOTOS keys, or "walker" / "lin"


@dataclass(frozen=True)
class Score:
    summary: str
    visible: str = field(default="")
    leak: str = field(default="")

    @property
    def registered_visible(self) -> Fraction:
        """Exactly, from the counts: visible registered face-frames / measurable ones."""
        shown, total = self.visible.split("(")[1].rstrip(")").split("/")
        return Fraction(int(shown), int(total))

    @property
    def bystander_leaks(self) -> int:
        return int(self.leak.split("(")[1].split("/")[0])


def _given(video: Path, gt: Path) -> Callable[[Path], tuple[Path, Path]]:
    return lambda folder: (video, gt)


CASES: list[Case] = [
    *[Case(f"side by side, gap {g}, {' and '.join(r)} registered",
           lambda d, g=g, r=r: scenes.side_by_side(g, d, registered=r), r)
      for g in (0.1, 0.25, 0.5, 1.0) for r in (("male",), ("female", "male"))],
    *[Case(f"crossing, gap {g}, {front} in front, male registered",
           lambda d, g=g, front=front: scenes.side_by_side(g, d, crossing=True, front=front), ("male",))
      for g in (0.1, 1.0) for front in ("female", "male")],
    Case("panned two_people.jpg, obama registered",
         lambda d: scenes.panned_still(scenes.MEDIA / "face_recognition" / "two_people.jpg", d, ["obama"]), ("obama",)),
    Case("panned two_people.jpg, both registered",
         lambda d: scenes.panned_still(scenes.MEDIA / "face_recognition" / "two_people.jpg", d, ["obama", "biden"]),
         ("obama", "biden")),
    Case("panned kit_with_rose.jpg, both registered",
         lambda d: scenes.panned_still(scenes.MEDIA / "face_recognition" / "knn_examples" / "test" / "kit_with_rose.jpg",
                                       d, ["kit_harington", "rose_leslie"]), ("kit_harington", "rose_leslie")),
    Case("panned obama_and_biden.jpg, biden registered",
         lambda d: scenes.panned_still(scenes.MEDIA / "face_recognition" / "knn_examples" / "test"
                                       / "obama_and_biden.jpg", d, ["biden"]), ("biden",)),
    Case("pedestrians 1080p, the walker in glasses registered", _given(PEDESTRIANS, GT / "pedestrians.gt.json"),
         ("walker",)),
    Case("Hamilton clip, Lin registered", _given(HAMILTON, SHARED / "eval" / "short_hamilton_clip.gt.json"), ("lin",)),
]


def walker_crop(path: Path) -> Path:
    """The man in glasses and a black jacket, cut from the pedestrian clip's last frame."""
    import av
    import cv2

    with av.open(str(PEDESTRIANS)) as c:
        last = [f for f in c.decode(video=0)][-1].to_ndarray(format="bgr24")
    cv2.imwrite(str(path), last[560:900, 1060:1400])
    return path


def registration_photo(who: str, folder: Path) -> Path:
    if who == "walker":
        return walker_crop(folder / "walker.png")
    if who == "lin":
        return SHARED / "media" / "face_recognition" / "lin-manuel-miranda.png"
    return scenes.MEDIA / scenes.PHOTOS[who]


def cli(*args, home: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "bystander", "--home", str(home), *[str(a) for a in args]]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


def redact_and_score(case: Case, tmp: Path, extra=()) -> Score:
    """Register the case's people, redact its video with the real command, score the output."""
    work = tmp / re.sub(r"\W+", "_", case.name)
    work.mkdir(parents=True)
    home = work / "home"
    for who in case.register:
        proc = cli("faces", "add", who, registration_photo(who, work), "--largest", home=home)
        assert proc.returncode == 0, proc.stderr
    video, gt = case.make(work)
    out = work / "out.mp4"
    proc = cli("video", video, "-o", out, "-q", *extra, home=home)
    assert proc.returncode == 0, proc.stderr
    scored = subprocess.run([sys.executable, SCORE, video, out, gt], capture_output=True, text=True, timeout=600)
    summary = scored.stdout.strip().splitlines()[-1]
    fields = dict(re.findall(r"(\w+)=(\S+)", summary))
    return Score(summary, fields["registered_visible"], fields["bystander_leak"])
