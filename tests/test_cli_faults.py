"""Faults the CLI must answer with one clear line and no leftovers: bad options, damaged media, a full
disk, termination, a damaged registry, unusual photo formats. Each runs the real command."""

import contextlib
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from conftest import FR, MEDIA, ROOT, run_cli, run_cli_tty, run_measuring_peak

HAMILTON = FR / "short_hamilton_clip.mp4"
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg (Debian package) not installed")


def assert_one_line_error(proc, code: int = 2) -> str:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == code and len(lines) == 1 and lines[0].startswith("bystander: "), proc.stderr
    return lines[0]


def parts(folder: Path) -> list[Path]:
    return sorted(folder.glob(".*.part.*"))


@pytest.fixture(scope="module")
def clip(media, tmp_path_factory) -> Path:
    """The Hamilton clip's first second, small: 30 frames of 320x180, its AAC audio and tags copied."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg (Debian package) not installed")
    out = tmp_path_factory.mktemp("clip") / "clip.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(HAMILTON), "-t", "1", "-vf", "scale=320:-2", "-c:v", "libx264",
                    "-preset", "ultrafast", "-c:a", "copy", str(out)], check=True)
    return out


def test_bogus_preset_is_one_line(clip, tmp_path):
    out = tmp_path / "out.mp4"
    proc = run_cli("video", clip, "-o", out, "--everyone", "--preset", "bogus", home=tmp_path)
    assert "--preset bogus" in assert_one_line_error(proc)
    assert not out.exists() and parts(tmp_path) == []


def _huge_frames_video(path: Path, side: int = 16000) -> Path:
    """A .mov of one black 16000x16000 frame: a few hundred KB that decode to 256 MB a frame, 768 MB as
    the BGR the engine works on, and more in the copies after it."""
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("png", rate=1)
        stream.width = stream.height = side
        stream.pix_fmt = "gray"
        for packet in [*stream.encode(av.VideoFrame(side, side, "gray")), *stream.encode()]:
            out.mux(packet)
    return path


@pytest.mark.parametrize("limit", [None, "100000000"])
def test_a_video_of_huge_frames_is_refused_before_decoding(tmp_path, limit):
    """The decompression bomb the web app refuses (serve --max-video-pixels) is refused by the command
    too, from its header: one line, exit 2, nothing written, and memory far below one decoded frame's."""
    bomb = _huge_frames_video(tmp_path / "bomb.mov")
    out = tmp_path / "out.mp4"
    cmd = [sys.executable, "-m", "bystander", "--home", str(tmp_path), "video", str(bomb), "-o", str(out),
           "--everyone", *(["--max-pixels", limit] if limit else [])]
    proc, peak = run_measuring_peak(cmd)
    line = assert_one_line_error(proc)
    assert "frames of 16000x16000" in line and f"limit of {limit or 7680 * 4320} pixels" in line, line
    assert "--max-pixels" in line
    assert peak < 1024  # MiB: no frame was decoded
    assert not out.exists() and parts(tmp_path) == []


@pytest.mark.parametrize("delay", ["-1", "11"])
def test_live_delay_out_of_range_is_one_line(tmp_path, delay):
    out = tmp_path / "rec.mp4"
    proc = run_cli("live", "--key", "k", "--record", out, "--delay", delay, "--wait", "1", home=tmp_path)
    assert f"--delay {delay}" in assert_one_line_error(proc)
    assert not out.exists()


@pytest.mark.parametrize("tag", [b"SoundHandler", b"Lavf"])
def test_undecodable_metadata_does_not_stop_the_video(clip, tmp_path, tag):
    data = clip.read_bytes()
    at = data.index(tag)
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(data[:at] + b"\xff" + data[at + 1:])  # a tag that is no longer UTF-8
    out = tmp_path / "out.mp4"
    proc = run_cli("video", bad, "-o", out, "--everyone", home=tmp_path)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert out.stat().st_size > 0


def test_audio_stream_of_no_known_codec_is_one_line(clip, tmp_path):
    data = bytearray(clip.read_bytes())
    data[data.index(b"smhd") - 4] = 0x20  # the sound header's size, past the end: the codec is lost
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(bytes(data))
    out = tmp_path / "out.mp4"
    proc = run_cli("video", bad, "-o", out, "--everyone", home=tmp_path)
    assert "audio stream names no codec" in assert_one_line_error(proc)
    assert not out.exists() and parts(tmp_path) == []


def _file_size_limit(limit: int):
    # A disk that fills up, without mounting one: writes past ``limit`` bytes fail with EFBIG
    # (Python ignores SIGXFSZ, so the write fails instead of killing the process).
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


@pytest.mark.parametrize("kind", ["video", "photo"])
def test_a_full_disk_is_one_line_and_leaves_nothing(clip, tmp_path, kind):
    src, out = (clip, tmp_path / "out.mp4") if kind == "video" else (FR / "obama.jpg", tmp_path / "out.png")
    cmd = [sys.executable, "-m", "bystander", "--home", str(tmp_path), kind, str(src), "-o", str(out), "--everyone"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, preexec_fn=_file_size_limit(8192))
    line = assert_one_line_error(proc)
    assert "out." in line and "too large" in line.lower()
    assert not out.exists() and parts(tmp_path) == []


def _start_video(src: Path, out: Path, home: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "bystander", "--home", str(home), "video", str(src), "-o", str(out),
           "--everyone", "--report", str(out.with_name("rep.json"))]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    deadline = time.time() + 60
    while time.time() < deadline and len(parts(out.parent)) < 2:
        time.sleep(0.1)
    time.sleep(1.0)
    assert proc.poll() is None, "the video finished before it could be stopped"
    return proc


def test_sigterm_mid_video_leaves_nothing(media, tmp_path):
    out = tmp_path / "out.mp4"
    proc = _start_video(HAMILTON, out, tmp_path)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM and err.strip() == "bystander: terminated", err
    assert not out.exists() and parts(tmp_path) == []


def test_parts_of_a_killed_run_are_removed_by_the_next(clip, tmp_path):
    out = tmp_path / "out.mp4"
    proc = _start_video(HAMILTON, out, tmp_path)
    proc.kill()
    proc.communicate(timeout=60)
    left = parts(tmp_path)
    assert {p.suffix for p in left} == {".mp4", ".json"}
    alive = tmp_path / f".out.{os.getpid()}.abcd1234.part.mp4"  # a run still going: not ours to remove
    alive.write_bytes(b"")
    run_cli("video", clip, "-o", out, "--everyone", "--report", tmp_path / "rep.json", home=tmp_path, check=True)
    assert parts(tmp_path) == [alive]


# The registry: every fault is one line and exit 2, and the file is left byte for byte as it was.

@pytest.fixture
def registry(home) -> Path:
    from bystander.registry import Registry

    rng = np.random.default_rng(0)
    with Registry(home / "registry.sqlite3") as reg:
        for name in ("ada", "bob"):  # two shots alike each other, as one person's are
            v = rng.normal(size=(1, 128)) + 0.2 * rng.normal(size=(2, 128))
            reg.add(name, (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32), ["1.jpg", "2.jpg"])
    return home / "registry.sqlite3"


def _registry_commands(home: Path, tmp_path: Path):
    """A command that writes, one that lists and one that builds the gallery."""
    yield run_cli("faces", "remove", "ada", home=home)
    yield run_cli("faces", "list", home=home)
    yield run_cli("photo", FR / "obama.jpg", "-o", tmp_path / "out.jpg", home=home)


def _check_refused(registry: Path, tmp_path: Path, message: str) -> None:
    before = registry.read_bytes()
    for proc in _registry_commands(registry.parent, tmp_path):
        if proc.returncode == 0:
            continue  # this fault does not concern this command (a corrupt page it never reads)
        assert message in assert_one_line_error(proc)
    assert registry.read_bytes() == before
    assert not (tmp_path / "out.jpg").exists()


def test_corrupt_registry_page(media, registry, tmp_path):
    data = bytearray(registry.read_bytes())
    page = 4096 if len(data) > 4096 else 1024
    data[page:page + 64] = b"\xa5" * 64  # the people table's page header
    registry.write_bytes(bytes(data))
    _check_refused(registry, tmp_path, "malformed")


def test_registry_of_another_schema(media, home, tmp_path):
    path = home / "registry.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE people (id INTEGER PRIMARY KEY, nickname TEXT)")
    _check_refused(path, tmp_path, "not a bystander registry")


def test_registry_embedding_of_the_wrong_size(media, registry, tmp_path):
    with sqlite3.connect(registry) as db:
        db.execute("UPDATE embeddings SET vector = x'0000' WHERE id = 1")
    proc = run_cli("photo", FR / "obama.jpg", "-o", tmp_path / "out.jpg", home=registry.parent)
    assert "is damaged (2 bytes" in assert_one_line_error(proc)
    assert not (tmp_path / "out.jpg").exists()


@contextlib.contextmanager
def read_only_copy(path: Path):
    """``path`` copied where this user cannot write it: a 0444 file, or for root (who writes those
    anyway) a read-only tmpfs mount."""
    folder = Path(tempfile.mkdtemp())
    try:
        if os.geteuid() != 0:
            shutil.copy(path, folder / path.name)
            os.chmod(folder / path.name, 0o444)
            yield folder / path.name
            return
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)]).returncode:
            pytest.skip("running as root, and no read-only mount can be made here")
        try:
            shutil.copy(path, folder / path.name)
            subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
            yield folder / path.name
        finally:
            subprocess.run(["umount", str(folder)], check=True)
    finally:
        shutil.rmtree(folder)


def test_read_only_registry(media, registry):
    with read_only_copy(registry) as path:
        before = path.read_bytes()
        proc = run_cli("faces", "remove", "ada", home=path.parent)
        assert "readonly" in assert_one_line_error(proc)
        assert path.read_bytes() == before


# Photos a plain 8-bit reader gets wrong.

def test_16_bit_greyscale_png_is_redacted_and_keeps_its_depth(media, tmp_path):
    grey = cv2.imread(str(FR / "obama.jpg"), cv2.IMREAD_GRAYSCALE).astype(np.uint16) * 257
    grey += np.arange(grey.shape[1], dtype=np.uint16)[None, :] % 200  # detail below the top 8 bits
    src = tmp_path / "grey16.png"
    cv2.imwrite(str(src), grey)
    out = tmp_path / "out.png"
    proc = run_cli("photo", src, "-o", out, "--everyone", home=tmp_path, check=True)
    assert "1 face(s), 1 redacted" in proc.stdout
    result = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert result.dtype == np.uint16 and result.shape == grey.shape
    changed = result != grey
    assert 0.02 < changed.mean() < 0.5  # the face, and only around it
    ys, xs = np.nonzero(changed)
    assert (result[ys, xs] % 257 == 0).all()  # inside the redaction nothing of the input's low bits
    assert abs(float(result.mean()) - float(grey.mean())) < 0.02 * float(grey.mean())  # not washed out


@pytest.mark.parametrize("kind", ["gif", "tiff"])
def test_multi_frame_photo_says_only_the_first_frame_was_done(media, tmp_path, kind):
    if kind == "gif":
        src = MEDIA / "intel_sample_videos" / "head-pose-face-detection-female.gif"
    else:
        src = tmp_path / "pages.tiff"
        pages = [Image.open(FR / name).convert("RGB") for name in ("obama.jpg", "biden.jpg")]
        pages[0].save(src, save_all=True, append_images=pages[1:])
    out = tmp_path / f"out.{kind}"
    proc = run_cli("photo", src, "-o", out, "--everyone", home=tmp_path)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("bystander: warning: ") and "only the first" in lines[0]
    assert out.exists()


def test_an_unknown_option_is_told_with_the_commands_own_usage(media, tmp_path):
    proc = run_cli("photo", FR / "two_people.jpg", "--blurr", home=tmp_path)
    assert proc.returncode == 2 and proc.stderr.startswith("usage: bystander photo "), proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == "bystander photo: error: unrecognized arguments: --blurr"


def test_a_still_image_given_to_video_is_refused(media, tmp_path):
    out = tmp_path / "out.mp4"
    proc = run_cli("video", FR / "two_people.jpg", "-o", out, "--everyone", home=tmp_path)
    assert "two_people.jpg: a still image, not a video; bystander photo redacts it" in assert_one_line_error(proc)
    assert not out.exists() and parts(tmp_path) == []


def test_a_folder_run_says_what_it_skipped(media, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "biden.jpg").write_bytes((FR / "biden.jpg").read_bytes())
    (src / "notes.txt").write_text("not a photo")
    (src / "clip.mp4").write_bytes(b"not a photo either")
    (src / "old_redacted.jpg").write_bytes((FR / "biden.jpg").read_bytes())
    proc = run_cli("photo", src, "--everyone", home=tmp_path, check=True)
    assert proc.stdout.strip().endswith(
        "1 of 1 photo(s) done, 1 face(s), 1 redacted; skipped 2 other file(s) and 1 earlier output(s) "
        "(NAME_redacted)"), proc.stdout


def test_a_video_refused_before_its_first_frame_shows_no_progress_bar(tmp_path):
    rc, seen = run_cli_tty("video", _huge_frames_video(tmp_path / "bomb.mov"), "-o", tmp_path / "out.mp4",
                           "--everyone", home=tmp_path)
    assert rc == 2 and "frames of 16000x16000" in seen and "frame/s" not in seen and "0frame" not in seen, seen
