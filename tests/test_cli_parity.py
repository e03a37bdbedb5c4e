"""The command-line habits users bring from deface: default output names, ``--home`` anywhere and
created when missing, help for every option. Through the real command, on real media."""

import shutil
import subprocess

import cv2

from bystander.engine.redact import padded_box
from conftest import FR, region_diff, run_cli, sharpness

BIDEN_BOX = (434, 187, 711, 569)  # in biden.jpg, from the detector


def _padded_corner(shape) -> tuple[int, int, int, int]:
    """A patch at the top-left corner of the area redacted around Biden's face: inside the box
    shape, outside the ellipse."""
    x1, y1, _, _ = padded_box(BIDEN_BOX, shape)
    return x1, y1, x1 + 12, y1 + 12


def _beside(shape) -> tuple[int, int, int, int]:
    """A patch well left of that area, halfway down the face: outside it, inside it twice as large."""
    x1, y1, x2, y2 = padded_box(BIDEN_BOX, shape)
    y = (y1 + y2) // 2
    return x1 - 120, y - 6, x1 - 108, y + 6  # beyond the ellipse, which reaches past the box


def test_photo_without_output_writes_name_redacted_beside_it_and_keeps_an_existing_one(media, home, tmp_path):
    photo = tmp_path / "biden.jpg"
    shutil.copy(FR / "biden.jpg", photo)
    proc = run_cli("photo", photo, "--everyone", home=home, check=True)
    out = tmp_path / "biden_redacted.jpg"
    assert str(out) in proc.stdout
    src, dst = cv2.imread(str(photo)), cv2.imread(str(out))
    assert sharpness(dst, BIDEN_BOX) < 0.05 * sharpness(src, BIDEN_BOX)
    assert region_diff(src, dst, _padded_corner(src.shape)) < 3  # the default ellipse leaves it
    assert region_diff(src, dst, _beside(src.shape)) < 3

    out.write_bytes(b"an earlier result")
    proc = run_cli("photo", photo, "--everyone", home=home)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and str(out) in lines[0] and "--force" in lines[0]
    assert out.read_bytes() == b"an earlier result"


def test_photo_folder_without_output_writes_folder_redacted_and_shape_box(media, home, tmp_path):
    folder = tmp_path / "shots"
    folder.mkdir()
    shutil.copy(FR / "biden.jpg", folder / "biden.jpg")
    run_cli("photo", folder, "--everyone", "--shape", "box", home=home, check=True)
    src, dst = cv2.imread(str(FR / "biden.jpg")), cv2.imread(str(tmp_path / "shots_redacted" / "biden.jpg"))
    assert region_diff(src, dst, _padded_corner(src.shape)) > 10  # the box shape redacts its corners too


def test_mask_scale_grows_the_redacted_area_and_bad_values_are_refused(media, home, tmp_path):
    out = tmp_path / "out.png"
    run_cli("photo", FR / "biden.jpg", "-o", out, "--everyone", "--mask-scale", "2", home=home, check=True)
    src, dst = cv2.imread(str(FR / "biden.jpg")), cv2.imread(str(out))
    assert region_diff(src, dst, _beside(src.shape)) > 10
    folder = tmp_path / "shots"
    folder.mkdir()
    proc = run_cli("photo", folder, "--mask-scale", "0.5", home=home)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "--mask-scale 0.5" in lines[0], proc.stderr
    assert not (tmp_path / "shots_redacted").exists()


def test_video_without_output_writes_name_redacted(media, home, tmp_path):
    clip = tmp_path / "clip.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(FR / "short_hamilton_clip.mp4"), "-t", "0.5",
                    "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", str(clip)], check=True)
    run_cli("video", clip, "--everyone", home=home, check=True)
    out = tmp_path / "clip_redacted.mp4"
    cap = cv2.VideoCapture(str(out))
    ok, frame = cap.read()
    cap.release()
    assert ok and frame is not None
    proc = run_cli("video", clip, "--everyone", home=home)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and "--force" in proc.stderr


def test_home_is_created_when_missing_and_accepted_after_the_subcommand(media, tmp_path):
    home = tmp_path / "new" / "home"
    run_cli("faces", "add", "biden", FR / "biden.jpg", "--home", home, check=True)
    assert (home / "registry.sqlite3").is_file()
    proc = run_cli("faces", "list", "--json", "--home", home, check=True)
    assert "biden" in proc.stdout
    proc = run_cli("faces", "--home", home, "list", check=True)
    assert "biden" in proc.stdout
    # Given both before and after the subcommand, the one after wins, as in the command line's reading order.
    proc = run_cli("faces", "list", "--home", tmp_path / "other", home=home, check=True)
    assert "biden" not in proc.stdout and (tmp_path / "other").is_dir()
    proc = run_cli("photo", FR / "biden.jpg", "--home", FR / "biden.jpg", "-o", tmp_path / "x.jpg")
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "not a folder" in lines[0]
    assert not (tmp_path / "x.jpg").exists()


def _undescribed(help_text: str) -> list[str]:
    """The entries of argparse's help (at indent 2, or 4 for a subcommand) that have no description:
    nothing after the invocation on their line, and no deeper-indented continuation below."""
    lines = help_text.splitlines()
    missing = []
    for i, line in enumerate(lines):
        indent = len(line) - len(line.lstrip(" "))
        if indent not in (2, 4) or not line.strip():
            continue
        described = len(line.strip().split("  ", 1)) == 2
        if not described and i + 1 < len(lines):
            below = lines[i + 1]
            described = bool(below.strip()) and len(below) - len(below.lstrip(" ")) > 4
        if not described:
            missing.append(line.strip())
    return missing


def test_every_option_of_every_command_has_help(tmp_path):
    commands = [[], ["faces"], ["faces", "add"], ["faces", "list"], ["faces", "remove"],
                ["photo"], ["video"], ["live"], ["serve"]]
    for command in commands:
        proc = run_cli(*command, "--help", check=True)
        assert "--home DIR" in proc.stdout  # the global options are listed (and accepted) everywhere
        assert _undescribed(proc.stdout) == [], (command, proc.stdout)
