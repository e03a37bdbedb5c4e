"""What the commands share: the home folder, the registry and the engine built from them."""

from __future__ import annotations

import sys

from pathlib import Path

from ..engine import Engine, EngineConfig, Gallery, Sticker, Style
from ..engine.redact import MASK_SCALE_RANGE, SHAPES
from ..errors import BystanderError
from ..media.image import read_sticker
from ..registry import Home, Registry


def open_registry(args) -> Registry:
    return Registry(Home.resolve(args.home).registry_path)


def engine_config(args, **overrides) -> EngineConfig:
    """The engine's settings from the command's options (``overrides`` win)."""
    everyone = getattr(args, "everyone", False)
    mask_scale = getattr(args, "mask_scale", EngineConfig.mask_scale)
    low, high = MASK_SCALE_RANGE
    if not low <= mask_scale <= high:
        raise BystanderError(f"--mask-scale {mask_scale}: must be between {low:g} and {high:g}")
    style, sticker = parse_style(getattr(args, "style", "blur"))
    return EngineConfig(**{
        "everyone": everyone,
        "style": style,
        "sticker": sticker,
        "shape": getattr(args, "shape", EngineConfig.shape),
        "mask_scale": mask_scale,
        "detect_threshold": getattr(args, "detect_threshold", EngineConfig.detect_threshold),
        **overrides,
    })


def build_engine(args, config: EngineConfig | None = None, **overrides) -> Engine:
    """The engine with the registry's current people (none under --everyone), with ``config`` or the
    settings from the command's options."""
    config = config or engine_config(args, **overrides)
    if config.everyone:
        gallery = Gallery.empty()
    else:
        with open_registry(args) as reg:
            gallery = reg.gallery()
    return Engine(gallery, config)


STYLES = "blur, pixelate, solid, emoji or image:FILE"


def parse_style(value: str) -> tuple[Style, Sticker | None]:
    """``--style``: a style's name, or ``image:FILE`` for the user's own picture."""
    kind, colon, path = value.partition(":")
    if kind == Style.IMAGE.value and colon:
        if not path:
            raise BystanderError("--style image:FILE: name the picture after the colon")
        try:
            return Style.IMAGE, read_sticker(Path(path))
        except BystanderError as exc:
            raise BystanderError(f"--style image: {exc}") from None
    if colon or kind not in {s.value for s in Style} or kind == Style.IMAGE.value:
        raise BystanderError(f"--style {value}: must be {STYLES}")
    return Style(kind), None


def show_progress(args) -> bool:
    return not getattr(args, "quiet", False) and sys.stderr.isatty()


def add_style_options(p) -> None:
    p.add_argument("--style", default="blur", metavar="STYLE",
                   help=f"how faces are redacted: {STYLES} (a picture of yours, transparency kept, over "
                        "each face; whatever it leaves uncovered is blurred). Default: blur, strong and "
                        "irreversible")
    p.add_argument("--shape", choices=SHAPES, default=EngineConfig.shape,
                   help="the redacted area around each face: an ellipse, feathered at its edge, or the whole "
                        "padded box (default %(default)s)")
    p.add_argument("--mask-scale", type=float, default=EngineConfig.mask_scale, metavar="S",
                   help="grow the redacted area around each face, already padded for hair and chin, S times "
                        f"({MASK_SCALE_RANGE[0]:g} to {MASK_SCALE_RANGE[1]:g}; default %(default)s)")
    p.add_argument("--everyone", action="store_true", help="ignore the registry: redact every face")


def add_redaction_options(p) -> None:
    add_style_options(p)
    p.add_argument("--report", metavar="JSON", help="write what was found and done to this JSON file")
    p.add_argument("--detect-threshold", type=float, default=EngineConfig.detect_threshold,
                   help="face detector score threshold (lower finds more, smaller faces; default %(default)s)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def add_ray_option(p, what: str) -> None:
    p.add_argument("--ray", metavar="ADDRESS",
                   help=f"{what}: 'local' (a private Ray on this machine's cores), ray://HOST:10001 or HOST:6379 "
                        "(an existing cluster, whose nodes have bystander installed and see the input at the same path)")
