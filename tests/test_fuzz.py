"""Seeded mutations of real photos and a real video (bytes flipped, files cut short) through the real
command: whatever the damage, no traceback, a clear answer, no partial output, the input untouched.

Bounded: about 70 runs of a second or so each. The seeds are fixed, so a failure reproduces.
"""

import random
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import FR, MEDIA, run_cli

PHOTOS = [FR / "obama_small.jpg", FR / "32bit.png", MEDIA / "scikit_image" / "camera.png",
          MEDIA / "intel_sample_videos" / "people-detection.gif"]
PHOTO_SEEDS = range(8)
VIDEO_SEEDS = range(40)


def mutate(data: bytes, rng: random.Random) -> bytes:
    """Cut short, or a few bits flipped: mostly in the first or last 4 KiB, where containers keep
    their headers, tags and indexes, sometimes anywhere."""
    if rng.random() < 0.25:
        return data[:rng.randrange(1, len(data))]
    out = bytearray(data)
    edge = min(len(out), 4096)
    for _ in range(rng.randint(1, 16)):
        where = rng.random()
        if where < 0.4:
            i = rng.randrange(edge)
        elif where < 0.8:
            i = len(out) - 1 - rng.randrange(edge)
        else:
            i = rng.randrange(len(out))
        out[i] ^= 1 << rng.randrange(8)
    return bytes(out)


def check(proc, src: Path, original: bytes, out: Path) -> None:
    lines = proc.stderr.strip().splitlines()
    what = f"{src.name}: exit {proc.returncode}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr and proc.returncode in (0, 1, 2), what
    assert all(line.startswith("bystander: ") for line in lines), what
    if proc.returncode == 2:
        assert len(lines) == 1 and not out.exists(), what  # refused: one line, nothing written
    else:
        assert out.stat().st_size > 0, what  # done (with problems named, for exit 1)
    assert src.read_bytes() == original, what
    assert list(out.parent.glob(".*.part*")) == [], what


def run_mutations(src: Path, seeds, command: str, tmp_path: Path) -> dict[int, int]:
    codes: dict[int, int] = {}
    data = src.read_bytes()
    for seed in seeds:
        case = tmp_path / f"{seed}"
        case.mkdir()
        bad = case / f"in{src.suffix}"
        mutated = mutate(data, random.Random(f"{src.name}:{seed}"))
        bad.write_bytes(mutated)
        out = case / ("out.mp4" if command == "video" else f"out{src.suffix}")
        proc = run_cli(command, bad, "-o", out, "--everyone", "--report", case / "report.json", home=tmp_path)
        check(proc, bad, mutated, out)
        codes[proc.returncode] = codes.get(proc.returncode, 0) + 1
    return codes


@pytest.mark.parametrize("photo", PHOTOS, ids=lambda p: p.name)
def test_mutated_photos(media, tmp_path, photo):
    run_mutations(photo, PHOTO_SEEDS, "photo", tmp_path)


def test_mutated_video(media, tmp_path):
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg (Debian package) not installed")
    # The Hamilton clip's first second, small, its index and tags up front (where mutations land most).
    clip = tmp_path / "clip.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(FR / "short_hamilton_clip.mp4"), "-t", "1",
                    "-vf", "scale=320:-2", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "copy",
                    "-movflags", "+faststart", str(clip)], check=True)
    codes = run_mutations(clip, VIDEO_SEEDS, "video", tmp_path)
    assert len(codes) > 1, codes  # the mutations reach past the first check
