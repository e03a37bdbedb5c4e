"""Matching embeddings against registered people."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .face import Match

# Chosen on ../shared/media (knn_examples, deepface A-E, openface, facenet_pytorch, face_recognition):
# 100 same-person pairs, 1419 different-person pairs. The highest different-person similarity
# was 0.494; at 0.52, 97 % of same-person pairs match and no different-person pair does.
DEFAULT_THRESHOLD = 0.52

# Below this similarity to every shot of a person, a face seen clearly is not that person: registered
# people read 0.34 and more to their own shots in frontal views (Hamilton clip: 0.34-0.74; head-pose
# clip: 0.53-0.61), bystanders -0.17 to 0.24. The judge takes it as evidence against a track's
# identity; registration refuses a shot this unlike the person's other shots.
REJECT_BELOW = 0.30

# Below this many pixels (the smaller side of the face box), SFace's 112x112 crop is mostly
# interpolation and identities blur together: such faces are always bystanders. Faces in a 720p
# stream are often 32-40 px; at 32 px registered people still matched and strangers did not (the
# measurement is in docs/BENCHMARKS.md).
MIN_RECOGNISABLE = 32.0

# A registration photo's face needs more: its embedding stands for the person in every later match.
MIN_REGISTRABLE = 40.0

# Detections scored below this (profiles, motion blur, part of a face) are not recognised either,
# and stay redacted. On the Hamilton clip every match to the registered face came from a detection
# scored 0.9 or more, while a third of the embeddings computed went to detections below 0.5.
MIN_RECOGNITION_SCORE = 0.7


@dataclass(frozen=True)
class Gallery:
    """The registered embeddings, flattened for one matrix product per frame."""

    names: tuple[str, ...]  # one per row of ``vectors``
    vectors: np.ndarray  # (n, 128) unit rows

    @classmethod
    def empty(cls) -> "Gallery":
        return cls((), np.zeros((0, 128), np.float32))

    @classmethod
    def from_people(cls, people: dict[str, np.ndarray]) -> "Gallery":
        names: list[str] = []
        rows: list[np.ndarray] = []
        for name, vecs in people.items():
            vecs = np.atleast_2d(np.asarray(vecs, np.float32))
            names.extend([name] * len(vecs))
            rows.append(vecs)
        if not rows:
            return cls.empty()
        return cls(tuple(names), np.concatenate(rows))

    def __len__(self) -> int:
        return len(self.names)

    def only(self, keep) -> "Gallery":
        """The rows whose name ``keep(name)`` accepts."""
        rows = [i for i, n in enumerate(self.names) if keep(n)]
        return Gallery(tuple(self.names[i] for i in rows), self.vectors[rows])

    def match(self, embeddings: np.ndarray, threshold: float = DEFAULT_THRESHOLD) -> list[Match]:
        """Best person per embedding: the highest cosine similarity over all their shots."""
        if not len(self) or not len(embeddings):
            return [Match(None, 0.0) for _ in range(len(embeddings))]
        sims = embeddings @ self.vectors.T
        best = sims.argmax(1)
        out = []
        for row, col in enumerate(best):
            s = float(sims[row, col])
            out.append(Match(self.names[col] if s >= threshold else None, s, embeddings[row]))
        return out
