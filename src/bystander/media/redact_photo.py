"""Redacting one photo: read (orientation applied), analyse, redact, write (without metadata unless kept)."""

from __future__ import annotations

from pathlib import Path

from ..engine import Engine
from ..engine.report import people_blurred
from .image import Photo, read_photo, write_photo


def redact_photo(engine: Engine, src: Path, dst: Path, max_pixels: int, keep_metadata: bool = False,
                 photo: Photo | None = None) -> dict:
    """``photo``: ``src`` already read (``read_photo``), or None to read it here."""
    photo = photo if photo is not None else read_photo(src, max_pixels)
    decisions = engine.analyse_photo(photo.bgr)
    out = engine.redact_decisions(photo.bgr.copy(), decisions)
    write_photo(dst, photo, out, keep_metadata=keep_metadata)
    report = {
        "input": str(src), "output": str(dst),
        "width": int(photo.bgr.shape[1]), "height": int(photo.bgr.shape[0]),
        "faces": [d.as_dict() for d in decisions],
        "redacted": sum(d.redact for d in decisions),
        "others_blurred": people_blurred(decisions, engine.config.min_recognition_score),
        "kept": sorted({d.person for d in decisions if not d.redact}),
    }
    if photo.frames > 1:
        # The output holds only the first frame: the others are neither redacted nor lost silently.
        hint = " (bystander video redacts an animated GIF whole)" if photo.format == "GIF" else ""
        report["warning"] = f"{src}: has {photo.frames} frames or pages; only the first was redacted and written{hint}"
    return report
