"""Pure computation: frames in, decisions and redacted frames out. No file or network I/O.

The names below are imported from their modules on first use, so that a command reading the registry
(``faces list``) or one of the engine's light modules does not load the detectors' code with them."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

_HOMES = {
    "Decision": "face", "Face": "face", "Match": "face", "Reason": "face",
    "DEFAULT_THRESHOLD": "match", "MIN_RECOGNISABLE": "match", "MIN_RECOGNITION_SCORE": "match", "Gallery": "match",
    "ModelError": "models",
    "Engine": "pipeline", "EngineConfig": "pipeline",
    "Sticker": "redact", "Style": "redact", "redact_frame": "redact", "redact_region": "redact",
}
__all__ = sorted(_HOMES)

if TYPE_CHECKING:
    from .face import Decision, Face, Match, Reason
    from .match import DEFAULT_THRESHOLD, MIN_RECOGNISABLE, MIN_RECOGNITION_SCORE, Gallery
    from .models import ModelError
    from .pipeline import Engine, EngineConfig
    from .redact import Sticker, Style, redact_frame, redact_region


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{_HOMES[name]}", __name__), name)
    globals()[name] = value
    return value
