"""What a streamer sends reaches the destination from its first frame, and short, odd or hostile
publishers end in one line: real ffmpeg publishers, ``bystander live``, nginx-rtmp destinations."""

from __future__ import annotations

import shutil
import signal
import socket
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from conftest import measure
from live_harness import (Bystander, Destination, build_counter_input, build_resolution_change_input,
                          build_tone_input, publish, recorded_counters, rtmp_handshake_only)

from bystander.live.nginx import HANDSHAKE_TIMEOUT, IDLE_PUBLISHER

pytestmark = pytest.mark.skipif(
    shutil.which("ffmpeg") is None or not Path("/usr/lib/nginx/modules/ngx_rtmp_module.so").exists(),
    reason="live tests need ffmpeg, nginx and libnginx-mod-rtmp (Debian packages; make test installs them)")

KEY = "ingest-key-5d20e1"
FRAME_MS = 1000 * Fraction(1001, 30000)


def assert_one_line_each(stderr: str, expected: list[str]) -> None:
    assert "Traceback" not in stderr and "Error" not in stderr, stderr
    for text in expected:
        assert sum(text in line for line in stderr.splitlines()) == 1, (text, stderr)


def assert_spacing(times: list[float]) -> None:
    steps = np.diff(np.array(times) * 1000)
    assert np.all(np.abs(steps - float(FRAME_MS)) <= 1.0), steps


def test_a_two_second_publish_reaches_destination_and_recording_frame_for_frame(home, tmp_path):
    """60 numbered frames (2 s, the length that crashed the relay) arrive all, in order, spaced as sent."""
    src = tmp_path / "counter.flv"
    build_counter_input(src, 60)
    with Destination(tmp_path / "rec") as dst:
        by = Bystander(tmp_path, home, KEY, [dst.url("app", "dest-key-c41")], "--grace", "2",
                       "--record", str(tmp_path / "out.mp4"))
        assert publish(src, f"{by.ingest_url}/{KEY}").wait(60) == 0
        rc = by.wait(60)
        recordings = dst.recordings()
    assert rc == 0, by.stderr()
    assert_one_line_each(by.stderr(), ["live ended"])
    assert len(recordings) == 1
    for path in (recordings[0], tmp_path / "out.mp4"):
        counters, times = recorded_counters(path)
        measure(f"live: {path.suffix} holds {len(counters)} of 60 published frames, first #{counters[0]}")
        assert counters == list(range(60))
        assert_spacing(times)


def test_short_odd_and_hostile_publishers_each_end_in_one_line(home, tmp_path):
    """With 600 idle sockets and a client silent after its handshake on the ingest port: an audio-only
    publisher, one starting mid-GOP that lasts under a second, one changing resolution mid-stream."""
    tone, mid_gop, resized = tmp_path / "tone.flv", tmp_path / "mid_gop.flv", tmp_path / "resized.flv"
    build_tone_input(tone, 1.0)
    build_counter_input(mid_gop, 75, skip=50, gop=60)  # 50..74 sent: 50..59 need the keyframe left out
    build_resolution_change_input(resized, [(15, (640, 360)), (15, (320, 180))])  # numbered 0..29
    record = tmp_path / "out.mp4"
    by = Bystander(tmp_path, home, KEY, [], "--grace", "3", "--record", str(record))
    idle = [socket.create_connection(("127.0.0.1", by.port)) for _ in range(600)]
    silent = rtmp_handshake_only(by.port)
    opened = time.monotonic()
    try:
        for src in (tone, mid_gop, resized):
            assert publish(src, f"{by.ingest_url}/{KEY}").wait(30) == 0, by.stderr()
            time.sleep(0.5)
        # nginx has closed the sockets that never began a handshake.
        time.sleep(max(0.0, opened + HANDSHAKE_TIMEOUT + 1 - time.monotonic()))
        for s in idle[:20]:
            s.settimeout(1)
            assert s.recv(1) == b""
        rc = by.wait(60)
    finally:
        for s in idle + [silent]:
            s.close()
    assert rc == 0, by.stderr()
    assert_one_line_each(by.stderr(), ["has no video", "live ended"])
    counters, times = recorded_counters(record)
    measure(f"live: odd publishers recorded {len(counters)} frames: mid-GOP start from #{counters[0]}, "
            f"then the resolution change's {len([c for c in counters if c < 30])} of 30")
    assert counters == list(range(60, 75)) + list(range(30))
    assert_spacing(times[:15])
    assert_spacing(times[15:])


def test_a_publisher_gone_silent_is_dropped_and_the_relay_ends_after_grace(home, tmp_path):
    """A publisher that stops sending without closing its connection (a frozen app, a lost network):
    nginx drops it after its idle limit, the relay waits out --grace and ends in one line, and what
    was sent before it went silent is recorded from the first frame, in order."""
    src = tmp_path / "counter.flv"
    build_counter_input(src, 300)
    record = tmp_path / "out.mp4"
    by = Bystander(tmp_path, home, KEY, [], "--grace", "2", "--record", str(record))
    pub = publish(src, f"{by.ingest_url}/{KEY}")
    try:
        assert by.wait_for(lambda s: s["frames"] >= 45, 30), by.stderr()
        pub.send_signal(signal.SIGSTOP)
        silent = time.monotonic()
        rc = by.wait(IDLE_PUBLISHER + 30)
        ended = time.monotonic() - silent
    finally:
        pub.kill()
        pub.wait()
    assert rc == 0, by.stderr()
    assert IDLE_PUBLISHER - 1 < ended < IDLE_PUBLISHER + 15, ended
    assert_one_line_each(by.stderr(), ["live ended"])
    counters, times = recorded_counters(record)
    measure(f"live: a publisher silent after {len(counters)} frames ended the relay {ended:.1f} s later")
    assert len(counters) >= 45 and counters == list(range(len(counters)))
    assert_spacing(times)
