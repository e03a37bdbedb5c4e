"""``bystander photo``: redact every face except registered ones, in a photo or a folder."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..errors import BystanderError
from ..media.atomic import atomic_output
from ..media.redact_photo import redact_photo
from ..media.image import DEFAULT_MAX_PIXELS, IMAGE_SUFFIXES
from .common import (add_ray_option, add_redaction_options, build_engine, default_output, refuse_overwrite,
                     show_progress)

HELP = """Redact every face in a photo (or every photo in a folder) except registered people.
EXIF orientation is applied before detection. The output keeps the input's size and format,
and carries no metadata: EXIF (GPS position, camera, time) is stripped."""


def add_parser(sub) -> None:
    p = sub.add_parser("photo", help="redact a photo or a folder of photos", description=HELP)
    p.add_argument("input", type=Path, help="an image file, or a folder of images")
    p.add_argument("-o", "--output", type=Path,
                   help="output file (or folder, for a folder input); default: NAME_redacted.EXT beside the input")
    p.add_argument("--force", action="store_true",
                   help="allow the output to overwrite the input, or an existing NAME_redacted output")
    p.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS,
                   help="refuse images above this many pixels (default %(default)s)")
    add_ray_option(p, "spread a folder's photos over a Ray cluster")
    add_redaction_options(p)
    p.set_defaults(func=run)


def write_report(path: str | None, report) -> None:
    if not path:
        return
    with atomic_output(Path(path)) as tmp:
        tmp.write_text(json.dumps(report, indent=2))


def run(args) -> int:
    src = args.input
    if not src.exists():
        raise BystanderError(f"{src}: no such file or folder")
    dst = default_output(src, args.output, args.force)
    if src.is_dir():
        return _run_folder(args, src, dst)
    if args.ray:
        raise BystanderError("--ray: only for a folder of photos")
    if dst.is_dir():
        dst = dst / src.name
    refuse_overwrite(src, dst, args.force)
    engine = build_engine(args)
    report = redact_photo(engine, src, dst, args.max_pixels)
    write_report(args.report, report)
    kept = f", kept {', '.join(report['kept'])}" if report["kept"] else ""
    print(f"{dst}: {len(report['faces'])} face(s), {report['redacted']} redacted{kept}")
    return _warn([report])


def _run_folder(args, src: Path, dst: Path) -> int:
    files = sorted(p for p in src.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if dst.exists() and not dst.is_dir():
        raise BystanderError(f"{dst}: the input is a folder, so the output must be a folder too")
    if dst.resolve() == src.resolve() and not args.force:
        raise BystanderError(f"{dst}: this would overwrite the inputs; pass --force to allow it")
    engine = build_engine(args)  # before the folder is made: a bad option leaves nothing behind
    dst.mkdir(parents=True, exist_ok=True)
    reports, failures = [], []
    bar = None
    if show_progress(args):
        from tqdm import tqdm
        bar = tqdm(total=len(files), unit="photo", file=sys.stderr)
    where = ""
    try:
        if args.ray:
            from ..cluster.connect import ray_cluster
            from ..cluster.photos import redact_photos_on_ray

            with ray_cluster(args.ray) as cluster:
                reports = redact_photos_on_ray(cluster, engine, files, dst, args.max_pixels,
                                               bar.update if bar is not None else None)
            failures = [r["error"] for r in reports if "error" in r]
            where = f"; on {cluster.describe()}"
        else:
            for f in files:
                try:
                    reports.append(redact_photo(engine, f, dst / f.name, args.max_pixels))
                except BystanderError as exc:
                    failures.append(str(exc))
                    reports.append({"input": str(f), "error": str(exc)})
                if bar is not None:
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    write_report(args.report, reports)
    faces = sum(len(r.get("faces", [])) for r in reports)
    redacted = sum(r.get("redacted", 0) for r in reports)
    print(f"{dst}: {len(files) - len(failures)} of {len(files)} photo(s) done, {faces} face(s), {redacted} redacted"
          f"{where}")
    for msg in failures:
        print(f"bystander: failed: {msg}", file=sys.stderr)
    return max(_warn(reports), 1 if failures else 0)


def _warn(reports: list[dict]) -> int:
    """Print the reports' warnings (a multi-frame file cut to its first frame): exit code 1 if any."""
    warnings = [r["warning"] for r in reports if "warning" in r]
    for msg in warnings:
        print(f"bystander: warning: {msg}", file=sys.stderr)
    return 1 if warnings else 0
