"""Checking one registration shot the moment it is taken, in words for the web page: one clear face,
big and sharp enough to recognise, facing the way the guide asked, and nobody else registered."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum

import cv2
import numpy as np

from ..engine import Engine, Gallery
from ..engine.face import Face
from ..registry.enrol import CLEAR_FACE, registered_as_another

# Laplacian variance of the face scaled to 112 px high: real registration photos measure 250-1100,
# the same photos blurred by a sixth of an eye distance 5-33 (media: face_recognition, deepface).
MIN_SHARPNESS = 60.0
SHARPNESS_HEIGHT = 112
# How far the nose sits from the eyes' midpoint, in eye distances (positive: towards the image's
# right, the person's own left): frontal photos measure within +-0.2, a slight turn 0.1 and more.
FRONTAL_YAW = 0.2
TURNED_YAW = 0.1


class Pose(str, Enum):
    ANY = "any"
    FRONT = "front"
    LEFT = "left"  # the person's own left
    RIGHT = "right"


@dataclass(frozen=True)
class ShotCheck:
    ok: bool  # usable for registration
    problem: str | None = None  # why not, for the page
    note: str | None = None  # usable, but not what the guide asked
    faces: int = 0
    size: float = 0.0
    sharpness: float = 0.0
    yaw: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)


def sharpness(image: np.ndarray, face: Face) -> float:
    x1, y1, x2, y2 = (int(round(v)) for v in face.box)
    roi = image[max(0, y1):max(0, y2), max(0, x1):max(0, x2)]
    if roi.size == 0:
        return 0.0
    grey = cv2.cvtColor(roi, cv2.COLOR_BGR2GRAY)
    scaled = cv2.resize(grey, (max(1, round(SHARPNESS_HEIGHT * grey.shape[1] / grey.shape[0])), SHARPNESS_HEIGHT),
                        interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(scaled, cv2.CV_64F).var())


def yaw(face: Face) -> float:
    right_eye, left_eye, nose = face.landmarks[0], face.landmarks[1], face.landmarks[2]
    distance = float(np.linalg.norm(left_eye - right_eye)) or 1.0
    return float(nose[0] - (right_eye[0] + left_eye[0]) / 2) / distance


def check_shot(engine: Engine, image: np.ndarray, pose: Pose = Pose.ANY, registered: Gallery = Gallery.empty(),
               name: str = "") -> ShotCheck:
    """``registered`` and ``name``: the registry, and who is being registered (a face already
    registered as someone else is refused, as saving would refuse it)."""
    faces = [f for f in engine.detect(image) if f.score >= CLEAR_FACE]
    if not faces:
        return ShotCheck(False, "no face found: face the camera in good light, with nothing covering your face.")
    if len(faces) > 1:
        return ShotCheck(False, f"{len(faces)} faces found: only the person being registered may be in the shot.",
                         faces=len(faces))
    face = faces[0]
    sharp, turn = sharpness(image, face), yaw(face)
    measured = dict(faces=1, size=round(face.size, 1), sharpness=round(sharp, 1), yaw=round(turn, 2))
    if face.size < engine.config.min_registrable:
        return ShotCheck(False, f"the face is too small ({face.size:.0f} px): come closer to the camera.", **measured)
    if sharp < MIN_SHARPNESS:
        return ShotCheck(False, "the face is blurred: hold still, or find more light.", **measured)
    if len(registered) and (other := registered_as_another(registered, name, engine.recogniser.embed(image, [face])[0])):
        return ShotCheck(False, f"this face is already registered as {other.person}: add the shot to "
                                f"{other.person}, or delete {other.person} first.", **measured)
    note = None
    if pose is Pose.FRONT and abs(turn) > FRONTAL_YAW:
        note = "the face is turned: this one asked you to look straight at the camera."
    elif pose is Pose.LEFT and turn < TURNED_YAW:
        note = "the face is not turned to your left: it helps recognise you from the side."
    elif pose is Pose.RIGHT and turn > -TURNED_YAW:
        note = "the face is not turned to your right: it helps recognise you from the side."
    return ShotCheck(True, note=note, **measured)
