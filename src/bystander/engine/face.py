"""What flows out of the engine: faces, their identities and the decision made on them."""

from __future__ import annotations

from dataclasses import dataclass, field

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


@dataclass(frozen=True)
class Decision:
    """What the engine did with one face in one frame."""

    face: Face
    track_id: int | None
    person: str | None  # the registered person it was confirmed as, or None
    similarity: float | None
    redact: bool
    reason: str  # "registered", "unknown", "too-small", "faint", "everyone", "unconfirmed", "held", "trail",
    # "predicted" (a frame the detector skipped: the track's predicted place)

    @property
    def guessed(self) -> bool:
        """Redacted where the face was last seen or moved from, not where it was detected now."""
        return self.reason in ("held", "trail")

    def as_dict(self) -> dict:
        x1, y1, x2, y2 = (round(v, 1) for v in self.face.box)
        return {
            "box": [x1, y1, x2, y2],
            "score": round(self.face.score, 3),
            "track": self.track_id,
            "person": self.person,
            "similarity": None if self.similarity is None else round(self.similarity, 3),
            "redacted": self.redact,
            "reason": self.reason,
        }
