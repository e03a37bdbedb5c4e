"""A long live relay at 720p30: does memory stay flat, the frame rate steady and audio in sync?

    .venv/bin/python benchmarks/live_soak.py [--minutes 30]

The Hamilton clip, scaled to 720p and looped to --minutes, is published in real time (ffmpeg -re)
to ``bystander live``, which relays it to a local nginx-rtmp that records. Printed: the bystander
process's resident memory after warm-up (a tenth of the run, at least a minute) and at the end, and
its growth; the recording's frame rate and worst gap; the audio/video offset (audio matched by
cross-correlation, video by matching frames against the clip) over the first minute and the last,
and how far it moved.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import threading
import time
from pathlib import Path

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from live_harness import (FRAME, Bystander, Destination, audio_offset, build_looped_input, circular,  # noqa: E402
                          publish, video_offset, video_times)

CLIP = ROOT.parent / "shared" / "media" / "face_recognition" / "short_hamilton_clip.mp4"
KEY = "soak-key"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def sample_memory(pid: int, out: list, stop: threading.Event, every: float = 5.0) -> None:
    start = time.monotonic()
    while not stop.wait(every):
        try:
            out.append((time.monotonic() - start, rss_mb(pid)))
        except OSError:
            return


def av_offset(recording: Path, src: Path, clip: list, loop_s: float, at: float) -> float:
    """Audio minus video offset against the published input, measured from ``at`` seconds in."""
    a = audio_offset(recording, src, loop_s, at=at + 5.0)
    v = video_offset(recording, clip, float(FRAME), loop_s, skip=0, at=at)
    return circular(a - v, loop_s)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=30)
    a = ap.parse_args()
    seconds = a.minutes * 60
    with tempfile.TemporaryDirectory(prefix="bystander-soak-") as tmp:
        work = Path(tmp)
        (work / "home").mkdir()
        src = work / "input.flv"
        one = build_looped_input(CLIP, src, 1, (1280, 720))
        loop_s = build_looped_input(CLIP, src, math.ceil(seconds / one), (1280, 720))
        with av.open(str(CLIP)) as c:
            clip = [cv2.resize(f.to_ndarray(format="bgr24"), (1280, 720), interpolation=cv2.INTER_CUBIC)
                    for f in c.decode(video=0)]
        memory: list[tuple[float, float]] = []
        stop = threading.Event()
        with Destination(work / "rec") as dst:
            by = Bystander(work, work / "home", KEY, [dst.url("app", "dest")], "--grace", "2", "--everyone")
            sampler = threading.Thread(target=sample_memory, args=(by.proc.pid, memory, stop), daemon=True)
            sampler.start()
            pub = publish(src, f"{by.ingest_url}/{KEY}")
            pub.wait()
            stop.set()
            by.wait(120)
            recording = dst.recordings()[0]
        published = math.ceil(seconds / one) * len(clip)
        times = np.array(video_times(recording))
        warm_at = max(60.0, seconds / 10)
        warm = next((m for t, m in memory if t >= warm_at), memory[0][1])
        end = memory[-1][1]
        first = av_offset(recording, src, clip, loop_s, at=10.0)
        last = av_offset(recording, src, clip, loop_s, at=max(10.0, times[-1] - times[0] - 60.0))
    print(f"{'minutes':>7} {'frames sent':>11} {'recorded':>8} {'fps out':>8} {'worst gap ms':>12} "
          f"{'RSS warm MB':>11} {'RSS end MB':>10} {'growth':>7} {'A/V start ms':>12} {'A/V end ms':>10} {'drift ms':>8}")
    print(f"{a.minutes:7.1f} {published:11d} {len(times):8d} {(len(times) - 1) / (times[-1] - times[0]):8.3f} "
          f"{np.diff(times).max() * 1000:12.0f} {warm:11.0f} {end:10.0f} {(end - warm) / warm * 100:6.1f}% "
          f"{first * 1000:12.0f} {last * 1000:10.0f} {(last - first) * 1000:8.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
