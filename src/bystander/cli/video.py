"""``bystander video``: redact a recorded video, audio and timing kept."""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import BystanderError
from ..media.redact_video import redact_video
from ..media.video import X264_PRESETS
from .common import (add_ray_option, add_redaction_options, build_engine, default_output, refuse_overwrite,
                     show_progress)

HELP = """Redact every face in a video except registered people. The output has the input's frames,
timestamps (variable frame rate included), duration and audio (copied, or AAC where the container needs
it); phone rotation is applied. H.264 video in MP4/MOV/MKV. Faces are tracked, held through missed
detections and redacted a few frames before they are first detected. Written to a temporary file and
renamed at the end: an interrupted run leaves no partial output."""


def add_parser(sub) -> None:
    p = sub.add_parser("video", help="redact a video file", description=HELP)
    p.add_argument("input", type=Path, help="a video file")
    p.add_argument("-o", "--output", type=Path,
                   help="output file; default: NAME_redacted.EXT beside the input")
    p.add_argument("--crf", type=int, default=20, help="x264 quality, lower is better (default %(default)s)")
    p.add_argument("--preset", default="veryfast", help="x264 speed preset (default %(default)s)")
    p.add_argument("--detect-every", type=int, default=1, choices=(1, 2, 3), metavar="N",
                   help="run the detector on every Nth frame, tracking in between; faces that appear "
                        "meanwhile are still covered by the look-ahead (default %(default)s)")
    p.add_argument("--force", action="store_true",
                   help="allow the output to overwrite the input, or an existing NAME_redacted output")
    add_ray_option(p, "cut the video into segments redacted side by side on a Ray cluster")
    p.add_argument("--segment-seconds", type=float, default=None, metavar="S",
                   help="with --ray: target segment length, cut at the next keyframe (default 60)")
    add_redaction_options(p)
    p.set_defaults(func=run)


def run(args) -> int:
    src = args.input
    dst = default_output(src, args.output, args.force)
    refuse_overwrite(src, dst, args.force)
    if not 0 <= args.crf <= 51:
        raise BystanderError(f"--crf {args.crf}: must be between 0 and 51")
    if args.preset not in X264_PRESETS:
        raise BystanderError(f"--preset {args.preset}: must be one of {', '.join(X264_PRESETS)}")
    if args.segment_seconds is not None and not args.ray:
        raise BystanderError("--segment-seconds: only with --ray")
    if args.segment_seconds is not None and not args.segment_seconds > 0:
        raise BystanderError(f"--segment-seconds {args.segment_seconds}: must be more than 0")
    engine = build_engine(args)
    bar = None
    if show_progress(args):
        from tqdm import tqdm
        bar = tqdm(unit="frame", file=sys.stderr, dynamic_ncols=True)

    def progress(done: int, total: int | None) -> None:
        if bar.total is None and total:
            bar.total = total
        bar.update(done - bar.n)

    options = dict(crf=args.crf, preset=args.preset, detect_every=args.detect_every,
                   report=Path(args.report) if args.report else None, progress=progress if bar is not None else None)
    try:
        if args.ray:
            from ..cluster.connect import ray_cluster
            from ..cluster.plan import DEFAULT_SEGMENT_SECONDS
            from ..cluster.video import redact_video_on_ray

            with ray_cluster(args.ray) as cluster:
                on_ray = redact_video_on_ray(cluster, engine, src, dst, **options,
                                             segment_seconds=args.segment_seconds or DEFAULT_SEGMENT_SECONDS)
            result, summary = on_ray.result, on_ray.summary()
        else:
            result = redact_video(engine, src, dst, **options)
            summary = result.summary()
    finally:
        if bar is not None:
            bar.close()
    print(f"{dst}: {summary}")
    for d in result.damage:
        print(f"bystander: warning: {src}: {d}", file=sys.stderr)
    return 1 if result.damage else 0
