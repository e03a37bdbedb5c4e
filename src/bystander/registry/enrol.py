"""Turning a registration photo into one embedding."""

from __future__ import annotations

import numpy as np

from ..engine import MIN_RECOGNITION_SCORE, Engine
from ..errors import RegistrationError

# A registration photo must show its person clearly: faint detections (a face in a painting,
# a hand) do not count as a second face, and cannot be the registered one, as in recognition.
CLEAR_FACE = MIN_RECOGNITION_SCORE


def embed_registration_photo(engine: Engine, image: np.ndarray, source: str, largest: bool = False) -> np.ndarray:
    """The embedding of the one clear face in ``image``; refuses none or several unless ``largest``."""
    faces = [f for f in engine.detect(image) if f.score >= CLEAR_FACE]
    if not faces:
        raise RegistrationError(f"{source}: no face found in this registration photo")
    if len(faces) > 1 and not largest:
        raise RegistrationError(
            f"{source}: {len(faces)} faces found in this registration photo; use a photo of one person, "
            "or --largest to take the biggest face")
    face = max(faces, key=lambda f: f.width * f.height)
    if face.size < engine.config.min_recognisable:
        raise RegistrationError(
            f"{source}: the face is too small to register ({face.size:.0f} px, at least "
            f"{engine.config.min_recognisable:.0f} px needed)")
    return engine.recogniser.embed(image, [face])[0]
