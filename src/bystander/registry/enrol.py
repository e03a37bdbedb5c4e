"""Turning a registration photo into one embedding."""

from __future__ import annotations

import numpy as np

from ..engine import DEFAULT_THRESHOLD, MIN_RECOGNITION_SCORE, Engine, Gallery
from ..engine.match import REJECT_BELOW
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


def check_shots(gallery: Gallery, name: str, vectors: np.ndarray, sources: list[str]) -> None:
    """Refuse shots that would make a face someone it is not, since a registered face stays visible:
    a face already registered as another person, or one unlike the person's other shots (earlier or
    given with it), such as a wrong photo among right ones."""
    others = gallery.only(lambda n: n != name)
    for vector, source in zip(vectors, sources):
        match = others.match(vector[None], DEFAULT_THRESHOLD)[0]
        if match.person is not None:
            raise RegistrationError(f"{source}: this face is already registered as {match.person} "
                                    f"(similarity {match.similarity:.2f}); add it to {match.person}, or remove "
                                    f"{match.person} first")
    own = gallery.only(lambda n: n == name).vectors
    if len(own) + len(vectors) < 2:
        return
    # Each new shot's best similarity to every other shot of the person: the least alike is named.
    best = [float((np.concatenate([own, np.delete(vectors, i, axis=0)]) @ v).max()) for i, v in enumerate(vectors)]
    odd = int(np.argmin(best))
    if best[odd] >= REJECT_BELOW:
        return
    if len(own) == 0 and len(vectors) == 2:
        raise RegistrationError(f"{sources[0]} and {sources[1]} do not look like the same person (similarity "
                                f"{best[odd]:.2f}; the same person reads {REJECT_BELOW:.2f} or more)")
    raise RegistrationError(f"{sources[odd]}: this face does not look like the other shots of {name} (similarity "
                            f"{best[odd]:.2f}; the same person reads {REJECT_BELOW:.2f} or more)")
