"""``--ray``: videos cut into segments and photos fanned out over a real local Ray cluster.

One Ray head (127.0.0.1, its own temp folder, a small object store, two CPUs) serves the whole
module and is stopped at its end; the real ``bystander`` command connects to it by address.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import secrets
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from conftest import FR, ROOT, measure, run_cli, score

HAMILTON = FR / "short_hamilton_clip.mp4"
RAY = Path(sys.executable).with_name("ray")
SEGMENT = "ray::redact_segment"  # the title Ray gives a worker process while it runs a segment


def packets(path: Path) -> dict:
    """Every packet's timestamps, per stream kind, in presentation order for video."""
    with av.open(str(path)) as c:
        out: dict = {"video": [], "audio": []}
        for p in c.demux():
            if p.size and p.stream.type in out:
                out[p.stream.type].append((p.pts, p.dts) if p.stream.type == "audio" else p.pts)
        tb = c.streams.video[0].time_base
    return {"video": [float(p * tb) for p in sorted(out["video"])], "audio": out["audio"], "frames": len(out["video"])}


@dataclass(frozen=True)
class Head:
    address: str
    session: int  # its session id: every process of the head and its workers is in it
    env: dict  # what a command needs to reach it


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_head(media):
    """A Ray head (``ray start --block``) on 127.0.0.1 with a token of its own, in a session of its
    own whose processes (head, raylet, workers: all started here) are killed at the end."""
    temp = Path(tempfile.mkdtemp(prefix="bray", dir="/tmp"))  # short: Ray's socket paths must fit
    port = free_port()
    env = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16), "RAY_USAGE_STATS_ENABLED": "0",
           # Ray swaps 127.0.0.1 for the machine's outward address unless told this is no cluster of several
           "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    head = subprocess.Popen(
        [str(RAY), "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={port}",
         "--num-cpus=2", f"--temp-dir={temp}", "--object-store-memory=80000000", "--include-dashboard=false",
         "--disable-usage-stats"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **env}, start_new_session=True)
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while subprocess.run([str(RAY), "status", f"--address={address}"], capture_output=True,
                             env={**os.environ, **env}).returncode != 0:
            assert head.poll() is None, "ray start exited"
            assert time.monotonic() < deadline, "the Ray head did not come up in 60 s"
            time.sleep(0.5)
        yield Head(address, head.pid, env)
    finally:
        for pid in session_processes(head.pid):  # SIGTERM would have it drain for 30 s
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        head.wait()
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="module")
def lin_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("cluster") / "home"
    home.mkdir()
    run_cli("faces", "add", "lin", FR / "lin-manuel-miranda.png", home=home, check=True)
    return home


def session_processes(session: int, title: bytes = b"") -> list[int]:
    """Pids of the processes in ``session`` (the Ray head's: raylet and workers, each worker in a
    process group of its own) whose command line starts with ``title``."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if os.getsid(int(proc.name)) == session and (proc / "cmdline").read_bytes().startswith(title):
                pids.append(int(proc.name))
        except (OSError, ProcessLookupError):
            continue
    return pids


def segment_workers(session: int) -> list[int]:
    """The workers of this module's Ray head now running a segment."""
    return session_processes(session, SEGMENT.encode())


def start_cli(*args, home: Path, env: dict) -> subprocess.Popen:
    # Python ignores SIGINT if its parent did (a suite run as a background job): the child gets the
    # default back, as at a terminal.
    return subprocess.Popen([sys.executable, "-m", "bystander", "--home", str(home), *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **env},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def wait_for_segment(cli: subprocess.Popen, session: int, timeout: float = 60) -> list[int]:
    deadline = time.monotonic() + timeout
    while not (pids := segment_workers(session)):
        assert cli.poll() is None, cli.communicate()
        assert time.monotonic() < deadline, "no segment started"
        time.sleep(0.05)
    return pids


@pytest.fixture(scope="module")
def hamilton_runs(ray_head, lin_home, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hamilton")
    one, on_ray = tmp / "one.mp4", tmp / "ray.mp4"
    run_cli("video", HAMILTON, "-o", one, home=lin_home, check=True)
    proc = run_cli("video", HAMILTON, "-o", on_ray, "--ray", ray_head.address, "--segment-seconds", 3,
                   "--report", tmp / "ray.json", home=lin_home, check=True, env=ray_head.env)
    return one, on_ray, proc, tmp / "ray.json"


def test_segments_keep_the_inputs_frames_timestamps_and_audio(hamilton_runs):
    _, out, proc, _ = hamilton_runs
    src, dst = packets(HAMILTON), packets(out)
    assert dst["frames"] == src["frames"] == 275
    assert dst["video"] == src["video"]  # exactly, frame for frame
    assert dst["audio"] == src["audio"]  # copied once, packet for packet
    assert "275 frames" in proc.stdout and "3 segment(s) on 2 worker CPU(s)" in proc.stdout


def test_segments_are_as_private_as_one_process(hamilton_runs):
    one, out, _, report = hamilton_runs
    alone, apart = score(HAMILTON, one), score(HAMILTON, out)
    measure(f"short_hamilton_clip on Ray, 3 s segments: {apart['summary']}")
    measure(f"short_hamilton_clip in one process:        {alone['summary']}")
    assert "bystander_leak=0.0000" in apart["summary"] and "longest_bystander_run=0" in apart["summary"]
    visible = lambda s: float(s.split("registered_visible=")[1].split("(")[0])  # noqa: E731
    assert abs(visible(apart["summary"]) - visible(alone["summary"])) <= 0.02
    import json

    frames = json.loads(report.read_text())["frames"]
    assert [f["index"] for f in frames] == list(range(275))  # one entry per frame, the file's numbering


def test_a_worker_killed_mid_segment_is_retried(ray_head, lin_home, tmp_path):
    out = tmp_path / "out.mp4"
    cli = start_cli("video", HAMILTON, "-o", out, "--ray", ray_head.address, "--segment-seconds", 3, home=lin_home,
                    env=ray_head.env)
    killed = wait_for_segment(cli, ray_head.session)[0]
    time.sleep(0.5)  # into its frames
    os.kill(killed, signal.SIGKILL)
    stdout, stderr = cli.communicate(timeout=180)
    assert cli.returncode == 0, stderr
    assert not Path(f"/proc/{killed}").exists()
    assert packets(out)["video"] == packets(HAMILTON)["video"]


def test_a_failing_job_leaves_no_output(ray_head, lin_home, tmp_path):
    src = tmp_path / "in.mp4"
    shutil.copy(HAMILTON, src)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    cli = start_cli("video", src, "-o", out_dir / "out.mp4", "--ray", ray_head.address, "--segment-seconds", 3,
                    home=lin_home, env=ray_head.env)
    wait_for_segment(cli, ray_head.session)
    src.unlink()  # the input vanishes mid-job: segments not yet read, and the audio, cannot be
    _, stderr = cli.communicate(timeout=180)
    assert cli.returncode == 2
    assert stderr.startswith("bystander: error: ") and len(stderr.strip().splitlines()) == 1, stderr
    assert "in.mp4" in stderr and "Traceback" not in stderr
    assert list(out_dir.iterdir()) == []  # neither the output nor a part of it


def test_ctrl_c_cancels_the_segments(ray_head, lin_home, tmp_path):
    # The clip four times over: long enough that the job is still running when Ctrl-C comes, even on
    # an idle machine.
    clip = tmp_path / "long.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-stream_loop", "3", "-i", str(HAMILTON), "-c", "copy", str(clip)],
                   check=True)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    cli = start_cli("video", clip, "-o", out_dir / "out.mp4", "--ray", ray_head.address, "--segment-seconds", 3,
                    home=lin_home, env=ray_head.env)
    session = ray_head.session
    wait_for_segment(cli, session)
    cli.send_signal(signal.SIGINT)
    _, stderr = cli.communicate(timeout=60)
    assert cli.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert list(out_dir.iterdir()) == []
    deadline = time.monotonic() + 10
    while segment_workers(session):  # cancelled: their workers stopped, not left to finish
        assert time.monotonic() < deadline, "segments still running after Ctrl-C"
        time.sleep(0.2)


def test_a_folder_of_photos_fans_out_like_one_process(ray_head, lin_home, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for name in ("two_people.jpg", "obama.jpg", "biden.jpg", "lin-manuel-miranda.png"):
        shutil.copy(FR / name, src / name)
    (src / "broken.jpg").write_bytes(b"not a photo")
    alone = run_cli("photo", src, "-o", tmp_path / "alone", home=lin_home)
    apart = run_cli("photo", src, "-o", tmp_path / "apart", "--ray", ray_head.address, home=lin_home, env=ray_head.env)
    assert apart.returncode == alone.returncode == 1, apart.stderr
    counts = lambda proc: proc.stdout.split(": ", 1)[1].split(";")[0].strip()  # noqa: E731
    assert counts(apart) == counts(alone) and "4 of 5 photo(s) done" in counts(alone)
    assert "on 2 worker CPU(s)" in apart.stdout
    assert "broken.jpg" in apart.stderr and "Traceback" not in apart.stderr
    names = sorted(p.name for p in (tmp_path / "alone").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "apart").iterdir()) and len(names) == 4
    for name in names:  # the same redaction, pixel for pixel
        a = cv2.imread(str(tmp_path / "alone" / name), cv2.IMREAD_UNCHANGED)
        b = cv2.imread(str(tmp_path / "apart" / name), cv2.IMREAD_UNCHANGED)
        assert np.array_equal(a, b), name


def test_without_ray_nothing_imports_it(media, lin_home, tmp_path):
    clip = tmp_path / "clip.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(HAMILTON), "-t", "1", "-c", "copy", str(clip)], check=True)
    script = ("import sys; from bystander.cli.main import main; "
              f"rc = main(['--home', {str(lin_home)!r}, 'video', {str(clip)!r}, '-o', {str(tmp_path / 'o.mp4')!r}]); "
              f"rc2 = main(['--home', {str(lin_home)!r}, 'photo', {str(FR / 'obama.jpg')!r}, "
              f"'-o', {str(tmp_path / 'o.jpg')!r}]); "
              "print(rc, rc2, 'ray' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert proc.stdout.split()[-3:] == ["0", "0", "False"], proc.stderr
    bad = run_cli("video", clip, "-o", tmp_path / "x.mp4", "--segment-seconds", 3, home=lin_home)
    assert bad.returncode == 2 and bad.stderr.strip() == "bystander: error: --segment-seconds: only with --ray"


def test_an_address_where_nothing_answers_is_one_line(media, lin_home, tmp_path):
    address = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    proc = run_cli("video", HAMILTON, "-o", tmp_path / "x.mp4", "--ray", address, home=lin_home)
    assert time.monotonic() - started < 30  # Ray alone would wait minutes
    assert proc.returncode == 2 and list(tmp_path.iterdir()) == []
    assert proc.stderr.startswith(f"bystander: error: --ray {address}: nothing answers there")
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_segments_are_planned_at_keyframes_with_warm_up(media):
    from bystander.cluster.plan import WARMUP_SECONDS, plan_segments

    with av.open(str(HAMILTON)) as c:
        keys = {p.pts for p in c.demux(video=0) if p.size and p.is_keyframe}
    pts = sorted(packets_pts(HAMILTON))
    plan = plan_segments(HAMILTON, 3, detect_every=2)
    assert plan.frames == 275 and sum(s.frames for s in plan.spans) == 275
    assert len(plan.spans) == 3
    for n, span in enumerate(plan.spans):
        assert span.start in keys and span.seek in keys and span.seek <= span.warm <= span.start
        assert pts.index(span.warm) % 2 == 0  # the detector's every-other-frame phase as in one pass
        if n:
            assert plan.spans[n - 1].end == span.start
            assert pts.index(span.start) - pts.index(span.warm) >= WARMUP_SECONDS * 29.97 - 2
            assert (span.start - plan.spans[n - 1].start) * plan.time_base >= 3
    assert plan.spans[-1].end is None


def packets_pts(path: Path) -> list[int]:
    with av.open(str(path)) as c:
        return [p.pts for p in c.demux(video=0) if p.size]


def test_the_web_apps_video_jobs_run_on_the_cluster(ray_head, tmp_path, monkeypatch):
    from test_server import Server, _admin

    for name, value in ray_head.env.items():
        monkeypatch.setenv(name, value)  # for the serve subprocess
    server = Server(tmp_path, "--ray", ray_head.address, "--rtmp-listen", f"rtmp://127.0.0.1:{free_port()}/live")
    try:
        assert "video jobs run on 2 worker CPU(s) on " + ray_head.address in server.log.read_text()
        token = _admin(server)
        status, job = server.request("POST", "/api/videos", token=token,
                                     files={"file": ("hamilton.mp4", HAMILTON.read_bytes())})
        assert status == 202, job
        seen_segment = False
        deadline = time.monotonic() + 120
        while job["state"] in ("queued", "running"):
            assert time.monotonic() < deadline, job
            seen_segment |= bool(segment_workers(ray_head.session))
            time.sleep(0.1)
            job = server.request("GET", f"/api/jobs/{job['id']}", token=token)[1]
        assert job["state"] == "done", job
        assert seen_segment  # redacted by a Ray worker, not in the server's process
        status, video = server.request("GET", f"/api/gallery/{job['item']}/file", token=token)
        assert status == 200
        (tmp_path / "result.mp4").write_bytes(video)
        assert packets(tmp_path / "result.mp4")["video"] == packets(HAMILTON)["video"]
    finally:
        server.stop()


def test_a_job_that_stops_early_cancels_its_running_segments(ray_head, tmp_path):
    """In a driver that stays connected (as serve does), the segments of a job that stopped are
    cancelled, not left to run to their end. The driver is a Python process of its own, started
    with the head's environment (Ray reads it when imported)."""
    script = f"""
import sys, time
sys.path.insert(0, {str(ROOT / "tests")!r})
import ray
from bystander.cluster.connect import ray_cluster
from bystander.cluster.video import redact_video_on_ray
from bystander.engine import Engine
from test_cluster import segment_workers

class Stop(Exception):
    pass

def stop(done, total):
    raise Stop  # the first segment is back: the job ends here, the others still running or queued

with ray_cluster({ray_head.address!r}) as cluster:
    try:
        redact_video_on_ray(cluster, Engine(), {str(HAMILTON)!r}, {str(tmp_path / "out.mp4")!r},
                            segment_seconds=1, progress=stop)
    except Stop:
        pass
    stopped = time.monotonic()
    while segment_workers({ray_head.session}) and time.monotonic() - stopped < 10:
        time.sleep(0.05)
    print("connected", ray.is_initialized(), "segments ran on for", round(time.monotonic() - stopped, 1), "s")
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **ray_head.env}, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    words = proc.stdout.split()
    assert words[:2] == ["connected", "True"], proc.stdout
    assert float(words[-2]) < 2  # a segment takes longer than this: only cancelling stops them this soon
    assert list(tmp_path.iterdir()) == []
