"""Who is registered: people and their face embeddings."""

from .enrol import embed_registration_photo
from .home import Home
from .store import Person, Registry

__all__ = ["Home", "Person", "Registry", "embed_registration_photo"]
