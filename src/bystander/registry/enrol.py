"""Turning a registration photo into one embedding."""

from __future__ import annotations

import numpy as np

from ..engine import DEFAULT_THRESHOLD, MIN_RECOGNITION_SCORE, Engine, Gallery, Match
from ..engine.match import REJECT_BELOW
from ..errors import RegistrationError

# A registration photo must show its person clearly: faint detections (a face in a painting,
# a hand) do not count as a second face, and cannot be the registered one, as in recognition.
CLEAR_FACE = MIN_RECOGNITION_SCORE
# Shots a person should have, from slightly different angles (the web app guides five).
RECOMMENDED_SHOTS = 3


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
    if face.size < engine.config.min_registrable:
        raise RegistrationError(
            f"{source}: the face is too small to register ({face.size:.0f} px, at least "
            f"{engine.config.min_registrable:.0f} px needed)")
    return engine.recogniser.embed(image, [face])[0]


def registered_as_another(gallery: Gallery, name: str, vector: np.ndarray) -> Match | None:
    """The registered person other than ``name`` that this face is, if any."""
    match = gallery.only(lambda n: n != name).match(vector[None], DEFAULT_THRESHOLD)[0]
    return match if match.person is not None else None


def check_shots(gallery: Gallery, name: str, vectors: np.ndarray, sources: list[str]) -> None:
    """Refuse shots that would make a face someone it is not, since a registered face stays visible:
    a face already registered as another person, or one unlike the person's other shots (earlier or
    given with it), such as a wrong photo among right ones."""
    for vector, source in zip(vectors, sources):
        if (match := registered_as_another(gallery, name, vector)) is not None:
            raise RegistrationError(f"{source}: this face is already registered as {match.person} "
                                    f"(similarity {match.similarity:.2f}); add it to {match.person}, or remove "
                                    f"{match.person} first")
    own = gallery.only(lambda n: n == name).vectors
    shots = np.concatenate([own, vectors])
    if len(shots) < 2:
        return
    # The shots must form one group in which each is alike (REJECT_BELOW or more) to another, so a
    # turned head joins through a half-turned one, but two strangers given together stay apart. The
    # group holding the earlier shots (the first group holds shot 0), or else the largest, is the
    # person; the other shots are named.
    groups = _groups(shots @ shots.T >= REJECT_BELOW)
    main = groups[0] if len(own) else max(groups, key=len)
    if len(main) == len(shots):
        return
    odd = sorted(i - len(own) for i in range(len(shots)) if i not in main)
    best = float((shots[odd[0] + len(own)] @ shots[sorted(main)].T).max())
    reads = f"similarity {best:.2f}; the same person reads {REJECT_BELOW:.2f} or more"
    if not len(own) and len(vectors) == 2:
        raise RegistrationError(f"{sources[0]} and {sources[1]} do not look like the same person ({reads})")
    names = ", ".join(sources[i] for i in odd)
    raise RegistrationError(f"{names}: {'this face does' if len(odd) == 1 else 'these faces do'} not look like "
                            f"the other shots of {name} ({reads})")


def _groups(alike: np.ndarray) -> list[set[int]]:
    """The connected groups of a symmetric boolean matrix."""
    left, groups = set(range(len(alike))), []
    while left:
        todo, group = [min(left)], set()
        while todo:
            i = todo.pop()
            if i in group:
                continue
            group.add(i)
            todo.extend(int(j) for j in np.flatnonzero(alike[i]) if j not in group)
        left -= group
        groups.append(group)
    return groups
