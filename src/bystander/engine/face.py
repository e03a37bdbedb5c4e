"""What flows out of the engine: faces, their identities and the decision made on them."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import numpy as np


@dataclass(frozen=True)
class Face:
    """One detected face, in pixel coordinates of the full frame."""

    box: tuple[float, float, float, float]  # x1, y1, x2, y2
    score: float
    landmarks: np.ndarray = field(repr=False, compare=False)  # 5x2: eyes, nose, mouth corners

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def size(self) -> float:
        """The smaller side: what decides whether the face can be recognised."""
        return min(self.width, self.height)


@dataclass(frozen=True)
class Match:
    """The best registered person for a face, and how sure we are."""

    person: str | None
    similarity: float
    embedding: np.ndarray | None = field(default=None, repr=False, compare=False)  # unit length


class Reason(str, Enum):
    """Why a face was shown or redacted."""

    REGISTERED = "registered"  # a track confirmed as a registered person: shown
    EVERYONE = "everyone"  # --everyone, or nobody registered
    UNKNOWN = "unknown"  # recognised as nobody registered
    UNCONFIRMED = "unconfirmed"  # not (yet) enough evidence for anyone
    TOO_SMALL = "too-small"  # too few pixels to recognise
    FAINT = "faint"  # a detection too weak to recognise (profile, blur, perhaps not a face)
    CROSSING = "crossing"  # tracking had a rival for it (faces overlapping, swapping): identity not carried
    INTERPOLATED = "interpolated"  # a frame between two detections: placed between both
    PREDICTED = "predicted"  # a skipped frame with no later detection yet (live without delay)
    HELD = "held"  # the detector missed it: covered where it was last seen (just lost: and on its way)
    BACKFILL = "backfill"  # before its first detection: covered where it came into view
    TRAIL = "trail"  # it jumped, or moved too far to be followed: covered where it was and on its way


# Redacted at a place the face may be, not where it was detected: these never cover a registered face.
GUESSES = frozenset({Reason.HELD, Reason.BACKFILL, Reason.TRAIL})


@dataclass(frozen=True)
class Decision:
    """What the engine did with one face in one frame."""

    face: Face
    redact: bool
    reason: Reason
    track_id: int | None = None
    person: str | None = None  # the registered person it was confirmed as, or None
    similarity: float | None = None

    @property
    def guessed(self) -> bool:
        """Redacted where the face may be, not where it was detected."""
        return self.reason in GUESSES

    def as_dict(self) -> dict:
        x1, y1, x2, y2 = (round(v, 1) for v in self.face.box)
        return {
            "box": [x1, y1, x2, y2],
            "score": round(self.face.score, 3),
            "track": self.track_id,
            "person": self.person,
            "similarity": None if self.similarity is None else round(self.similarity, 3),
            "redacted": self.redact,
            "reason": self.reason.value,
        }


class DetectorFault(RuntimeError):
    """A detector answered with what cannot be a face (a coordinate that is not a number, a box turned
    inside out): nothing it said of that frame can be trusted."""


def in_frame(faces: list[Face], width: int, height: int) -> list[Face]:
    """``faces`` as a detector gave them, checked: faces wholly outside the frame are dropped (a face
    cut by the border is kept); an impossible face is a ``DetectorFault``, never silently passed over."""
    kept = []
    for f in faces:
        x1, y1, x2, y2 = f.box
        if not (np.isfinite(f.box).all() and np.isfinite(f.score) and np.isfinite(f.landmarks).all()):
            raise DetectorFault(f"the detector gave a face that is not a number: {f.box}, score {f.score}")
        if x2 <= x1 or y2 <= y1:
            raise DetectorFault(f"the detector gave a box inside out: {f.box}")
        if x2 > 0 and y2 > 0 and x1 < width and y1 < height:
            kept.append(f)
    return kept
