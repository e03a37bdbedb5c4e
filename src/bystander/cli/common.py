"""What the commands share: the home folder, the registry and the engine built from them."""

from __future__ import annotations

import sys

from ..engine import Engine, EngineConfig, Gallery, Style
from ..registry import Home, Registry


def open_registry(args) -> Registry:
    return Registry(Home.resolve(args.home).registry_path)


def build_engine(args, **overrides) -> Engine:
    """The engine with the registry's current people (none under --everyone)."""
    everyone = getattr(args, "everyone", False)
    config = EngineConfig(
        everyone=everyone,
        style=Style(getattr(args, "style", "blur")),
        detect_threshold=getattr(args, "detect_threshold", EngineConfig.detect_threshold),
        **overrides,
    )
    if everyone:
        gallery = Gallery.empty()
    else:
        with open_registry(args) as reg:
            gallery = reg.gallery()
    return Engine(gallery, config)


def show_progress(args) -> bool:
    return not getattr(args, "quiet", False) and sys.stderr.isatty()


def add_redaction_options(p) -> None:
    p.add_argument("--style", choices=[s.value for s in Style], default="blur",
                   help="how faces are redacted (default: blur, strong and irreversible)")
    p.add_argument("--everyone", action="store_true", help="ignore the registry: redact every face")
    p.add_argument("--report", metavar="JSON", help="write what was found and done to this JSON file")
    p.add_argument("--detect-threshold", type=float, default=EngineConfig.detect_threshold,
                   help="face detector score threshold (lower finds more, smaller faces; default %(default)s)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
