"""Pure computation: frames in, decisions and redacted frames out. No file or network I/O."""

from .face import Decision, Face, Match, Reason
from .match import DEFAULT_THRESHOLD, MIN_RECOGNISABLE, MIN_RECOGNITION_SCORE, Gallery
from .models import ModelError
from .pipeline import Engine, EngineConfig
from .redact import Sticker, Style, redact_frame, redact_region

__all__ = [
    "DEFAULT_THRESHOLD", "MIN_RECOGNISABLE", "MIN_RECOGNITION_SCORE", "Decision", "Engine", "EngineConfig", "Face", "Gallery",
    "Match", "ModelError", "Reason", "Sticker", "Style", "redact_frame", "redact_region",
]
