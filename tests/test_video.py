"""``bystander video`` end to end on real videos, judged frame by frame against the input."""

import json
import shutil
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from conftest import FR, MEDIA, ROOT, detail_kept, measure, run_cli, run_cli_tty, run_measuring_peak, score, sharpness

HAMILTON = FR / "short_hamilton_clip.mp4"
INTEL = MEDIA / "intel_sample_videos"
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg (Debian package) not installed")


def probe(path: Path) -> dict:
    """Timestamps of every video packet and the audio's span, from one pass over the container."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        a = c.streams.audio[0] if c.streams.audio else None
        pts, apk = [], []
        for p in c.demux(*([v, a] if a else [v])):
            if p.pts is None:
                continue
            (pts if p.stream is v else apk).append(p)
        info = {"pts": sorted(p.pts for p in pts), "time_base": v.time_base, "width": v.codec_context.width,
                "height": v.codec_context.height, "frames": len(pts)}
        if apk:
            info["audio_codec"] = a.codec_context.name
            info["audio_start"] = float(apk[0].pts * a.time_base)
            info["audio_end"] = float((apk[-1].pts + apk[-1].duration) * a.time_base)
        return info


def frames(path: Path):
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            yield f.to_ndarray(format="bgr24")


@pytest.fixture(scope="module")
def hamilton(media, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hamilton")
    home = tmp / "home"
    home.mkdir()
    run_cli("faces", "add", "lin", FR / "lin-manuel-miranda.png", home=home, check=True)
    out = tmp / "out.mp4"
    proc = run_cli("video", HAMILTON, "-o", out, "--report", tmp / "report.json", home=home, check=True)
    return out, proc, json.loads((tmp / "report.json").read_text())


def test_hamilton_timeline_and_audio_are_kept(hamilton):
    out, proc, _ = hamilton
    src, dst = probe(HAMILTON), probe(out)
    assert dst["frames"] == src["frames"] == 275
    assert (dst["width"], dst["height"]) == (src["width"], src["height"])
    # Same timestamps, frame for frame, so the same duration and speed.
    to_s = lambda info: [float(p * info["time_base"]) for p in info["pts"]]  # noqa: E731
    assert np.allclose(to_s(src), to_s(dst), atol=1e-3)
    assert dst["audio_codec"] == "aac"
    assert abs(dst["audio_end"] - dst["audio_start"] - (src["audio_end"] - src["audio_start"])) < 0.05
    assert abs(dst["audio_start"] - src["audio_start"]) < 0.05
    assert "275 frames" in proc.stdout and "kept: lin" in proc.stdout


def test_hamilton_no_bystander_visible_in_any_frame(hamilton):
    out, _, _ = hamilton
    result = score(HAMILTON, out)
    measure(f"short_hamilton_clip, lin registered: {result['summary']}")
    assert "bystander_leak=0.0000" in result["summary"]
    assert "longest_bystander_run=0" in result["summary"]
    assert "frames=275/275" in result["summary"]


def test_hamilton_registered_performer_stays_visible(hamilton):
    out, _, report = hamilton
    result = score(HAMILTON, out)
    visible = float(result["summary"].split("registered_visible=")[1].split("(")[0])
    assert visible >= 0.95  # 147 of 149 measured; a few frames of margin for another CPU's int8 results
    # The 3.3-7.9 s close shots: he is recognised and kept in most frames (110 of 138 measured).
    close = [f for f in report["frames"] if 3.3 + 0.85 <= f["time"] < 7.9 + 0.85]
    kept = sum(any(x["person"] == "lin" and not x["redacted"] for x in f["faces"]) for f in close)
    measure(f"short_hamilton_clip 3.3-7.9 s: lin kept in {kept}/{len(close)} frames")
    assert kept >= 0.75 * len(close)



def test_at_a_terminal_the_progress_bar_runs_to_the_end(media, tmp_path):
    """As the README says to run it, in a terminal: the progress bar is drawn and the video written."""
    out = tmp_path / "out.mp4"
    src = INTEL / "head-pose-face-detection-female-and-male.gif"
    mp4 = tmp_path / "in.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-i", src, "-pix_fmt", "yuv420p", mp4], check=True)
    code, screen = run_cli_tty("video", mp4, "-o", out, "--everyone")
    assert code == 0, screen
    assert "Traceback" not in screen
    assert "56/56" in screen  # the bar knew the total and reached it
    assert probe(out)["frames"] == 56


def test_detecting_every_third_frame_still_covers_every_bystander(media, tmp_path):
    """Frames in between are covered by tracks and the look-ahead; the cuts in this clip (to the
    audience at 7.9 s among them) are detected afresh."""
    out = tmp_path / "every3.mp4"
    home = tmp_path / "home"
    home.mkdir()
    run_cli("faces", "add", "lin", FR / "lin-manuel-miranda.png", home=home, check=True)
    run_cli("video", HAMILTON, "-o", out, "--detect-every", "3", home=home, check=True)
    result = score(HAMILTON, out)
    measure(f"short_hamilton_clip, --detect-every 3: {result['summary']}")
    assert "bystander_leak=0.0000" in result["summary"]
    assert "longest_bystander_run=0" in result["summary"]

@pytest.fixture(scope="module")
def engine_for_checks(media):
    from bystander.engine import Engine, EngineConfig

    # A more sensitive detector than the product's, to judge outputs independently of its own boxes.
    return Engine(config=EngineConfig(detect_threshold=0.5))


def test_head_pose_woman_redacted_through_every_turn(media, tmp_path, engine_for_checks):
    home = tmp_path / "home"
    home.mkdir()
    run_cli("faces", "add", "man", INTEL / "head-pose-face-detection-male.gif", home=home, check=True)
    src = INTEL / "head-pose-face-detection-female-and-male.gif"
    out = tmp_path / "out.mp4"
    run_cli("video", src, "-o", out, home=home, check=True)
    ins, outs = list(frames(src)), list(frames(out))
    assert len(ins) == len(outs) == 56
    checked = 0
    for a, b in zip(ins, outs):
        # She is on the left half of the frame, he on the right.
        for face in engine_for_checks.detect(a):
            if (face.box[0] + face.box[2]) / 2 < a.shape[1] / 2:
                checked += 1
                assert sharpness(b, face.box) < 0.2 * sharpness(a, face.box)
    assert checked >= 50


def test_1080p_everyone_redacted(media, tmp_path, engine_for_checks):
    src = MEDIA / "facenet_pytorch" / "video.mp4"
    out = tmp_path / "out.mp4"
    run_cli("video", src, "-o", out, "--everyone", home=tmp_path, check=True)
    assert probe(out)["frames"] == 105
    checked = visible = 0
    for a, b in zip(frames(src), frames(out)):
        for face in engine_for_checks.detect(a):
            if face.height < 20:
                continue
            checked += 1
            visible += detail_kept(a, b, face.box) >= 0.87
    measure(f"facenet video.mp4 1080p, --everyone: {visible} of {checked} face-frames left sharp")
    assert checked > 500 and visible == 0


@needs_ffmpeg
def test_audio_the_container_cannot_hold_is_transcoded_to_aac(media, tmp_path):
    src = tmp_path / "pcm.mov"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(HAMILTON), "-t", "2", "-c:v", "copy", "-c:a", "pcm_mulaw",
                    str(src)], check=True)
    out = tmp_path / "out.mp4"
    run_cli("video", src, "-o", out, "--everyone", home=tmp_path, check=True)
    a, b = probe(src), probe(out)
    assert b["audio_codec"] == "aac" and b["frames"] == a["frames"]
    assert abs((b["audio_end"] - b["audio_start"]) - (a["audio_end"] - a["audio_start"])) < 0.05


@needs_ffmpeg
def test_phone_rotation_is_applied(media, tmp_path):
    src = tmp_path / "rotated.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(HAMILTON), "-ss", "4", "-t", "1", "-c", "copy",
                    "-metadata:s:v", "rotate=90", str(src)], check=True)
    out = tmp_path / "out.mp4"
    run_cli("video", src, "-o", out, "--everyone", "--style", "solid", home=tmp_path, check=True)
    info = probe(out)
    assert (info["width"], info["height"]) == (360, 640)
    # Turned the way players turn it: compare with ffmpeg's own autorotated first frame.
    reference = tmp_path / "ffmpeg.png"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(src), "-frames:v", "1", str(reference)], check=True)
    ours = next(frames(out)).astype(int)
    theirs = cv2.imread(str(reference)).astype(int)
    outside = ours.max(axis=2) > 8  # away from the solid redactions
    assert np.abs(ours - theirs).mean(axis=2)[outside].mean() < 8
    assert np.abs(ours - theirs[::-1, ::-1]).mean(axis=2)[outside].mean() > 15


def test_variable_frame_rate_timestamps_survive(media, tmp_path):
    src = tmp_path / "vfr.mkv"
    gaps = [1, 1, 3, 1, 2, 5, 1, 1, 4, 1] * 3
    with av.open(str(HAMILTON)) as c, av.open(str(src), "w") as o:
        s = o.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = 640, 360, "yuv420p"
        s.codec_context.time_base = Fraction(1, 30)
        pts = 0
        for f, gap in zip(c.decode(video=0), gaps):
            nf = av.VideoFrame.from_ndarray(f.to_ndarray(format="bgr24"), format="bgr24")
            nf.pts, nf.time_base = pts, Fraction(1, 30)
            pts += gap
            for p in s.encode(nf):
                o.mux(p)
        for p in s.encode(None):
            o.mux(p)
    out = tmp_path / "out.mp4"
    run_cli("video", src, "-o", out, "--everyone", home=tmp_path, check=True)
    a, b = probe(src), probe(out)
    sec = lambda info: [round(float(p * info["time_base"]), 3) for p in info["pts"]]  # noqa: E731
    assert sec(a) == sec(b)


@needs_ffmpeg
def test_truncated_video_keeps_what_decodes_and_exits_1(media, tmp_path):
    whole = tmp_path / "faststart.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(HAMILTON), "-c", "copy", "-movflags", "+faststart",
                    str(whole)], check=True)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    out = tmp_path / "out.mp4"
    proc = run_cli("video", cut, "-o", out, "--everyone", home=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "warning" in proc.stderr and "frame" in proc.stderr and "Traceback" not in proc.stderr
    assert 0 < probe(out)["frames"] < 275


@pytest.mark.parametrize("kind,message", [("text", "not a video"), ("empty", "empty file"),
                                          ("audio", "no video stream")])
def test_non_video_input_exits_2_with_one_line(media, tmp_path, kind, message):
    bad = tmp_path / "bad.mp4"
    if kind == "text":
        bad.write_text("this is not a video at all\n" * 20)
    elif kind == "empty":
        bad.write_bytes(b"")
    else:
        bad = tmp_path / "audio.m4a"
        with av.open(str(HAMILTON)) as c, av.open(str(bad), "w") as o:
            s = o.add_stream_from_template(c.streams.audio[0])
            for p in c.demux(c.streams.audio[0]):
                if p.dts is not None:
                    p.stream = s
                    o.mux(p)
    out = tmp_path / "out.mp4"
    proc = run_cli("video", bad, "-o", out, home=tmp_path)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and message in lines[0], proc.stderr
    assert not out.exists()


@needs_ffmpeg
def test_interrupted_run_leaves_no_output(media, tmp_path):
    # The 1080p clip played 6 times: long enough that the interrupt lands mid-run.
    src = tmp_path / "long.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-stream_loop", "5", "-i", str(MEDIA / "facenet_pytorch" / "video.mp4"),
                    "-c", "copy", str(src)], check=True)
    out = tmp_path / "out.mp4"
    cmd = [sys.executable, "-m", "bystander", "--home", str(tmp_path), "video", str(src), "-o", str(out), "--everyone"]
    # Python ignores SIGINT if its parent did (a background job's does): the child gets the default back.
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 60
    while time.time() < deadline and not list(tmp_path.glob(".out.*")):
        time.sleep(0.1)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert not out.exists()
    assert list(tmp_path.glob(".out.*")) == []


def test_the_input_is_not_overwritten_and_crf_is_checked(media, tmp_path):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(HAMILTON.read_bytes())
    proc = run_cli("video", clip, "-o", clip, home=tmp_path)
    assert proc.returncode == 2 and "--force" in proc.stderr
    assert clip.read_bytes() == HAMILTON.read_bytes()
    proc = run_cli("video", clip, "-o", tmp_path / "out.mp4", "--crf", "99", home=tmp_path)
    assert proc.returncode == 2 and "--crf 99" in proc.stderr and not (tmp_path / "out.mp4").exists()


@needs_ffmpeg
def test_memory_stays_flat_however_long_the_video(media, tmp_path):
    """Peak memory of a 9 s video and of the same played 10 times (92 s, audio and all) are the same:
    frames stream through bounded queues, and nothing grows with the length."""
    peaks = {}
    for loops in (0, 9):
        src = tmp_path / f"in-{loops}.mp4"
        subprocess.run(["ffmpeg", "-v", "error", "-stream_loop", str(loops), "-i", str(HAMILTON), "-c", "copy",
                        str(src)], check=True)
        out = tmp_path / f"out-{loops}.mp4"
        # The fast settings: memory is what is measured here, and these keep the run short.
        cmd = [sys.executable, "-m", "bystander", "--home", str(tmp_path), "video", str(src), "-o", str(out),
               "--everyone", "-q", "--detect-every", "3", "--preset", "ultrafast"]
        proc, peaks[loops] = run_measuring_peak(cmd)
        assert proc.returncode == 0, proc.stderr
        assert probe(out)["frames"] == probe(src)["frames"]
    measure(f"peak memory: {peaks[0]:.0f} MiB for 9 s of video, {peaks[9]:.0f} MiB for 92 s")
    assert peaks[9] < peaks[0] * 1.1 + 20
