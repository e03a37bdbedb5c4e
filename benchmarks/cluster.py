"""One process against a local Ray with 1 and 2 worker CPUs, on the same 2-minute 720p video.

    .venv/bin/python benchmarks/cluster.py [--segment-seconds 30] [--minutes 2]

The video is the Hamilton clip (its audio too) looped to about two minutes and scaled to 1280x720,
keyframes every 2 s; Lin-Manuel Miranda is registered, as in the privacy tests. Prints the time of
each run side by side, what a segment costs beyond its own frames (the warm-up and look-ahead it
judges without writing, Ray's start and the stitching), and the time the same job would take with
more workers, from the measured per-segment time (segments are independent of each other).
"""

from __future__ import annotations

import argparse
import math
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
FR = ROOT.parent / "shared" / "media" / "face_recognition"

from bystander.cli.common import build_engine  # noqa: E402
from bystander.cli.main import parser  # noqa: E402
from bystander.cluster.connect import LOCAL, ray_cluster  # noqa: E402
from bystander.cluster.plan import plan_segments  # noqa: E402
from bystander.cluster.video import redact_video_on_ray  # noqa: E402
from bystander.media.redact_video import redact_video  # noqa: E402


def make_input(dst: Path, minutes: float) -> None:
    clip = FR / "short_hamilton_clip.mp4"
    loops = math.ceil(minutes * 60 / 9.18)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", str(loops - 1), "-i", str(clip), "-t", str(minutes * 60),
                    "-vf", "scale=1280:720:flags=bicubic", "-c:v", "libx264", "-crf", "18", "-preset", "veryfast",
                    "-g", "60", "-c:a", "aac", "-b:a", "128k", str(dst)], check=True)


def overlap_frames(src: Path, segment_seconds: float, window: int) -> tuple[int, int, int]:
    """(segments, frames, frames judged but not written): each segment's warm-up, and the look-ahead
    past its end (the judge's window, one frame more to see the end)."""
    plan = plan_segments(src, segment_seconds)
    from bystander.media.video import open_input

    with open_input(src) as c:
        pts = sorted(p.pts for p in c.demux(video=0) if p.size)
    extra = 0
    for span in plan.spans:
        extra += pts.index(span.start) - pts.index(span.warm)
        if span.end is not None:
            extra += min(window + 1, len(pts) - pts.index(span.end))
    return len(plan.spans), plan.frames, extra


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--segment-seconds", type=float, default=30.0)
    ap.add_argument("--minutes", type=float, default=2.0)
    opts = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bystander-bench-cluster-") as tmp:
        tmp = Path(tmp)
        src = tmp / "input-720p.mp4"
        make_input(src, opts.minutes)
        home = tmp / "home"
        home.mkdir()
        subprocess.run([sys.executable, "-m", "bystander", "--home", str(home), "faces", "add", "lin",
                        str(FR / "lin-manuel-miranda.png")], check=True, capture_output=True)
        engine = build_engine(parser().parse_args(["--home", str(home), "video", str(src), "-o", "x.mp4"]))
        rows = []

        t = time.perf_counter()
        one = redact_video(engine, src, tmp / "one.mp4")
        rows.append(("one process, no Ray", time.perf_counter() - t, one.frames, None))
        print(f"one process: {rows[-1][1]:.1f} s", file=sys.stderr, flush=True)

        for cpus in (1, 2):
            t = time.perf_counter()
            with ray_cluster(LOCAL, cpus=cpus) as cluster:
                started = time.perf_counter() - t
                on_ray = redact_video_on_ray(cluster, engine, src, tmp / f"ray{cpus}.mp4",
                                             segment_seconds=opts.segment_seconds)
            rows.append((f"local Ray, {cpus} worker CPU(s)", time.perf_counter() - t, on_ray.result.frames,
                         (started, on_ray)))
            print(f"ray {cpus}: {rows[-1][1]:.1f} s", file=sys.stderr, flush=True)

        window = max(engine.config.backfill_frames, round(one.rate * engine.config.file_window_seconds))
        segments, frames, extra = overlap_frames(src, opts.segment_seconds, window)

    print(f"\n{frames} frames of 1280x720 ({frames / one.rate:.0f} s at {one.rate:.2f} fps), Lin registered; "
          f"segments of {opts.segment_seconds:g} s (cut at the next keyframe): {segments}\n")
    print(f"{'run':30} {'total s':>8} {'fps':>6} {'Ray start':>9} {'plan':>6} {'segment (mean)':>14} "
          f"{'stitch':>7}")
    for name, total, n, detail in rows:
        if detail is None:
            print(f"{name:30} {total:8.1f} {n / total:6.1f} {'':>9} {'':>6} {'':>14} {'':>7}")
            continue
        started, r = detail
        print(f"{name:30} {total:8.1f} {n / total:6.1f} {started:9.1f} {r.plan_seconds:6.2f} "
              f"{statistics.mean(r.segment_seconds):14.1f} {r.stitch_seconds:7.2f}")
    start, two = rows[2][3]
    # With two tasks on the two cores each task has about one core (the detector, its decoder and
    # x264 share it); with one, x264 and the decoder spread to the idle core. The 2-CPU run is the
    # per-core cost a larger cluster pays.
    per_segment = statistics.mean(two.segment_seconds)
    seconds = frames / one.rate
    print(f"\nOverlap: {extra} frames judged but not written, {extra / frames:.1%} of the video's frames "
          f"({extra / max(1, segments - 1):.0f} a boundary: the warm-up after it, the look-ahead before it).")
    print(f"Fixed cost: Ray start {start:.1f} s, plan {two.plan_seconds:.2f} s, stitch "
          f"{two.stitch_seconds:.2f} s (stream copy, {frames / two.stitch_seconds:.0f} frames/s).")
    print(f"A segment with a core to itself (2-CPU run): {per_segment:.1f} s for {frames / segments:.0f} frames "
          f"written ({frames / segments / per_segment:.1f} fps a core).")
    print("\nProjected from the 2-CPU run, one core a worker CPU: Ray start + plan + rounds of segments side by "
          "side + stitch (plan and stitch grow with the video's length):")
    hour = 3600 / seconds  # how many of this video make an hour
    print(f"{'worker CPUs':>12} {'this video, s':>14} {'1 h of video, s':>16}")
    for workers in (1, 2, 4, 8, 16, 32):
        here = start + two.plan_seconds + math.ceil(segments / workers) * per_segment + two.stitch_seconds
        long = (start + (two.plan_seconds + two.stitch_seconds) * hour
                + math.ceil(3600 / opts.segment_seconds / workers) * per_segment)
        print(f"{workers:>12} {here:14.0f} {long:16.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
