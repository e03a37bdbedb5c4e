"""``bystander photo``: redact every face except registered ones, in photos and folders of them."""

from __future__ import annotations

import contextlib
import json
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import BystanderError
from ..media.atomic import atomic_output
from ..media.limits import DEFAULT_MAX_PIXELS
from .common import add_ray_option, add_redaction_options, build_engine, engine_config, show_progress
from .inputs import Plan, add_input_options, plan

if TYPE_CHECKING:
    from ..engine import Engine, EngineConfig

HELP = """Redact every face in photos except registered people: files, folders of them (-r for their
subfolders too), or both. EXIF orientation is applied before detection. The output keeps the input's
size and format, and carries no metadata unless --keep-metadata: EXIF (GPS position, camera, time)
is stripped."""


def add_parser(sub) -> None:
    p = sub.add_parser("photo", help="redact photos, or folders of photos", description=HELP)
    add_input_options(p, "an image file", "photo")
    p.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS,
                   help="refuse images above this many pixels (default %(default)s)")
    add_ray_option(p, "spread the photos over a Ray cluster")
    add_redaction_options(p)
    p.set_defaults(func=run)


def write_report(path: str | None, report) -> None:
    if not path:
        return
    with atomic_output(Path(path)) as tmp:
        tmp.write_text(json.dumps(report, indent=2))


def run(args) -> int:
    from ..media.image import IMAGE_SUFFIXES, is_still_image, read_photo
    from ..media.redact_photo import redact_photo

    config = engine_config(args)  # first: a bad option is named before the inputs are looked at
    _load_second_detector_meanwhile(config)
    work = plan(args.inputs, args.output, is_still_image, "photos", recursive=args.recursive, force=args.force,
                file_suffixes=IMAGE_SUFFIXES)
    if not work.single:
        return _run_batch(args, build_engine(args, config), work)
    if args.ray:
        raise BystanderError("--ray: only for several photos or a folder of them")
    job = work.jobs[0]
    # The photo is decoded while the models load: Pillow decodes, and OpenVINO loads, without the GIL.
    with ThreadPoolExecutor(1, thread_name_prefix="bystander-read") as pool:
        reading = pool.submit(read_photo, job.src, args.max_pixels)
        engine = build_engine(args, config)
        photo = reading.result()
    work.make_folders()
    report = redact_photo(engine, job.src, job.dst, args.max_pixels, args.keep_metadata, photo)
    write_report(args.report, report)
    kept = f", kept {', '.join(report['kept'])}" if report["kept"] else ""
    print(f"{job.dst}: {len(report['faces'])} face(s), {report['redacted']} redacted{kept}")
    return _warn([report])


def _load_second_detector_meanwhile(config: EngineConfig) -> None:
    """Load the photo stage's CenterFace on another thread while YuNet loads, the photo is read and
    YuNet looks at it: OpenVINO loads without holding the GIL, and the two take about as long. A load
    that fails there fails again, with its message, where the photo stage is first used. Not a daemon:
    a command that ends early (an input refused) waits for the load, since OpenVINO aborts the process
    when the interpreter is torn down under it."""
    if not config.photo_second:
        return
    from ..engine.photo_detect import centerface_for

    def load() -> None:
        with contextlib.suppress(Exception):
            centerface_for(config.photo_second_threshold, config.analysis_size, config.threads, config.runtime)

    threading.Thread(target=load, name="bystander-load").start()


def _run_batch(args, engine: Engine, work: Plan) -> int:
    from ..media.redact_photo import redact_photo

    jobs = work.jobs
    reports, failures = [], []
    bar = None
    if show_progress(args):
        from tqdm import tqdm
        bar = tqdm(total=len(jobs), unit="photo", file=sys.stderr)
    where = ""
    try:
        if args.ray:
            from ..cluster.connect import ray_cluster
            from ..cluster.photos import redact_photos_on_ray

            with ray_cluster(args.ray) as cluster:
                work.make_folders()
                reports = redact_photos_on_ray(cluster, engine, [(j.src, j.dst) for j in jobs], args.max_pixels,
                                               args.keep_metadata, bar.update if bar is not None else None)
            failures = [r["error"] for r in reports if "error" in r]
            where = f"; on {cluster.describe()}"
        else:
            work.make_folders()
            for job in jobs:
                try:
                    reports.append(redact_photo(engine, job.src, job.dst, args.max_pixels, args.keep_metadata))
                except BystanderError as exc:
                    failures.append(str(exc))
                    reports.append({"input": str(job.src), "error": str(exc)})
                if bar is not None:
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    write_report(args.report, reports)
    faces = sum(len(r.get("faces", [])) for r in reports)
    redacted = sum(r.get("redacted", 0) for r in reports)
    print(f"{', '.join(map(str, work.roots))}: {len(jobs) - len(failures)} of {len(jobs)} photo(s) done, "
          f"{faces} face(s), {redacted} redacted{where}{work.skipped()}")
    for msg in failures:
        print(f"bystander: failed: {msg}", file=sys.stderr)
    return max(_warn(reports), 1 if failures else 0)


def _warn(reports: list[dict]) -> int:
    """Print the reports' warnings (a multi-frame file cut to its first frame): exit code 1 if any."""
    warnings = [r["warning"] for r in reports if "warning" in r]
    for msg in warnings:
        print(f"bystander: warning: {msg}", file=sys.stderr)
    return 1 if warnings else 0
