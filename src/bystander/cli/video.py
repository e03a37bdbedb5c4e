"""``bystander video``: redact recorded videos, audio and timing kept."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from ..errors import BystanderError
from ..media.limits import DEFAULT_MAX_VIDEO_PIXELS
from .common import add_ray_option, add_redaction_options, build_engine, show_progress
from .inputs import Job, Plan, add_input_options, plan

HELP = """Redact every face in videos except registered people: files, folders of them (-r for their
subfolders too), or both. The output has the input's frames, timestamps (variable frame rate included),
duration and audio (copied, or AAC where the container needs it); phone rotation is applied. H.264 video
in MP4/MOV/MKV (other inputs are written as MP4). Faces are tracked, held through missed detections and
redacted a few frames before they are first detected. Each output is written to a temporary file and
renamed at the end: an interrupted run leaves no partial output. The input's metadata (time, place,
camera) is left out unless --keep-metadata."""


def add_parser(sub) -> None:
    p = sub.add_parser("video", help="redact videos, or folders of videos", description=HELP)
    add_input_options(p, "a video file", "video")
    p.add_argument("--crf", type=int, default=20, help="x264 quality, lower is better (default %(default)s)")
    p.add_argument("--preset", default="veryfast", help="x264 speed preset (default %(default)s)")
    p.add_argument("--detect-every", type=int, default=1, choices=(1, 2, 3), metavar="N",
                   help="run the detector on every Nth frame, tracking in between; faces that appear "
                        "meanwhile are still covered by the look-ahead (default %(default)s)")
    p.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_VIDEO_PIXELS,
                   help="refuse videos whose frames have more pixels than this, before decoding any "
                        "(default %(default)s, 8K UHD)")
    add_ray_option(p, "cut each video into segments redacted side by side on a Ray cluster")
    p.add_argument("--segment-seconds", type=float, default=None, metavar="S",
                   help="with --ray: target segment length, cut at the next keyframe (default 60)")
    add_redaction_options(p)
    p.set_defaults(func=run)


def _is_video(path: Path) -> bool:
    """What a folder gives ``video``: video files, and animated GIFs (``photo`` takes still ones)."""
    from ..media.image import is_animated_gif
    from ..media.redact_video import VIDEO_SUFFIXES

    return path.suffix.lower() in VIDEO_SUFFIXES or is_animated_gif(path)


def _writable(src: Path) -> str | None:
    """The output's suffix: the input's where it can be written, else MP4."""
    from ..media.redact_video import CONTAINERS

    return None if src.suffix.lower() in CONTAINERS else ".mp4"


def run(args) -> int:
    from ..media.image import IMAGE_SUFFIXES, is_still_image
    from ..media.redact_video import VIDEO_SUFFIXES
    from ..media.video import X264_PRESETS

    if not 0 <= args.crf <= 51:
        raise BystanderError(f"--crf {args.crf}: must be between 0 and 51")
    if args.preset not in X264_PRESETS:
        raise BystanderError(f"--preset {args.preset}: must be one of {', '.join(X264_PRESETS)}")
    if args.max_pixels < 1:
        raise BystanderError(f"--max-pixels {args.max_pixels}: must be at least 1")
    if args.segment_seconds is not None and not args.ray:
        raise BystanderError("--segment-seconds: only with --ray")
    if args.segment_seconds is not None and not args.segment_seconds > 0:
        raise BystanderError(f"--segment-seconds {args.segment_seconds}: must be more than 0")
    engine = build_engine(args)  # first: a bad option is named before the inputs are looked at
    work = plan(args.inputs, args.output, _is_video, "videos", recursive=args.recursive, force=args.force,
                out_suffix=_writable, file_suffixes=VIDEO_SUFFIXES | IMAGE_SUFFIXES)
    for job in work.jobs:
        if is_still_image(job.src):
            raise BystanderError(f"{job.src}: a still image, not a video; bystander photo redacts it")
    reports = _reports(args.report, work)
    with contextlib.ExitStack() as stack:
        cluster = None
        if args.ray:
            from ..cluster.connect import ray_cluster
            cluster = stack.enter_context(ray_cluster(args.ray))
        work.make_folders()
        if args.report and not work.single:  # the folder named for several reports, and its subfolders
            for report in reports:
                report.parent.mkdir(parents=True, exist_ok=True)
        failed, damaged = 0, 0
        for job, report in zip(work.jobs, reports):
            try:
                result = _redact(args, engine, cluster, job, report)
            except BystanderError as exc:
                if work.single:
                    raise
                print(f"bystander: failed: {exc}", file=sys.stderr)
                failed += 1
                continue
            damaged += bool(result.damage)
    if not work.single:
        print(f"{', '.join(map(str, work.roots))}: {len(work.jobs) - failed} of {len(work.jobs)} video(s) done"
              f"{work.skipped()}")
    return 1 if failed or damaged else 0


def _reports(report: str | None, work: Plan) -> list[Path | None]:
    """Each video's --report: the file named, for one video; for several, NAME.json for each in
    the folder named."""
    if not report:
        return [None] * len(work.jobs)
    if work.single:
        return [Path(report)]
    folder = Path(report)
    if (folder.exists() and not folder.is_dir()) or (not folder.exists() and folder.suffix.lower() == ".json"):
        raise BystanderError(f"--report {report}: with several videos, --report names a folder (a JSON file "
                             "for each video goes in it)")
    paths = [folder / job.name.with_name(job.name.name + ".json") for job in work.jobs]
    named: dict[Path, Path] = {}
    for path, job in zip(paths, work.jobs):
        if path in named:
            raise BystanderError(f"--report: {named[path]} and {job.src} would both be reported in {path}; "
                                 "give them different names, or an output folder with -o")
        named[path] = job.src
    return paths


def _redact(args, engine, cluster, job: Job, report: Path | None):
    bars: list = []  # made at the first frame, so that a video refused before it shows none

    def progress(done: int, total: int | None) -> None:
        if not bars:
            from tqdm import tqdm
            bars.append(tqdm(unit="frame", file=sys.stderr, dynamic_ncols=True, desc=job.name.name, total=total))
        bar = bars[0]
        if bar.total is None and total:
            bar.total = total
        bar.update(done - bar.n)

    options = dict(crf=args.crf, preset=args.preset, detect_every=args.detect_every, report=report,
                   progress=progress if show_progress(args) else None, keep_metadata=args.keep_metadata,
                   max_pixels=args.max_pixels)
    try:
        if cluster is not None:
            from ..cluster.plan import DEFAULT_SEGMENT_SECONDS
            from ..cluster.video import redact_video_on_ray

            on_ray = redact_video_on_ray(cluster, engine, job.src, job.dst, **options,
                                         segment_seconds=args.segment_seconds or DEFAULT_SEGMENT_SECONDS)
            result, summary = on_ray.result, on_ray.summary()
        else:
            from ..media.redact_video import redact_video

            result = redact_video(engine, job.src, job.dst, **options)
            summary = result.summary()
    finally:
        for bar in bars:
            bar.close()
    print(f"{job.dst}: {summary}")
    for d in result.damage:
        print(f"bystander: warning: {job.src}: {d}", file=sys.stderr)
    return result
