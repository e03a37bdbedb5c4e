"""What the commands share: the home folder, the registry and the engine built from them."""

from __future__ import annotations

import sys

from pathlib import Path

from ..engine import Engine, EngineConfig, Gallery, Style
from ..engine.redact import MASK_SCALE_RANGE, SHAPES
from ..errors import BystanderError
from ..registry import Home, Registry


def open_registry(args) -> Registry:
    return Registry(Home.resolve(args.home).registry_path)


def build_engine(args, **overrides) -> Engine:
    """The engine with the registry's current people (none under --everyone)."""
    everyone = getattr(args, "everyone", False)
    mask_scale = getattr(args, "mask_scale", EngineConfig.mask_scale)
    low, high = MASK_SCALE_RANGE
    if not low <= mask_scale <= high:
        raise BystanderError(f"--mask-scale {mask_scale}: must be between {low:g} and {high:g}")
    config = EngineConfig(
        everyone=everyone,
        style=Style(getattr(args, "style", "blur")),
        shape=getattr(args, "shape", EngineConfig.shape),
        mask_scale=mask_scale,
        detect_threshold=getattr(args, "detect_threshold", EngineConfig.detect_threshold),
        **overrides,
    )
    if everyone:
        gallery = Gallery.empty()
    else:
        with open_registry(args) as reg:
            gallery = reg.gallery()
    return Engine(gallery, config)


def refuse_overwrite(src: Path, dst: Path, force: bool) -> None:
    """The input is never overwritten unless --force says so."""
    if dst.exists() and src.exists() and dst.resolve() == src.resolve() and not force:
        raise BystanderError(f"{dst}: this would overwrite the input; pass --force to allow it")


def default_output(src: Path, dst: Path | None, force: bool) -> Path:
    """The output given with -o, else NAME_redacted.EXT beside the input; an earlier run's output is
    kept unless --force, since nobody named it in this command."""
    if dst is not None:
        return dst
    named = src if src.name else src.resolve()  # "." names no folder until resolved
    dst = named.with_name(f"{named.stem}_redacted{named.suffix}")
    if dst.exists() and not force:
        raise BystanderError(f"{dst}: already exists; pass -o to choose the output, or --force to overwrite it")
    return dst


def show_progress(args) -> bool:
    return not getattr(args, "quiet", False) and sys.stderr.isatty()


def add_style_options(p) -> None:
    p.add_argument("--style", choices=[s.value for s in Style], default="blur",
                   help="how faces are redacted (default: blur, strong and irreversible)")
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
