"""Shared fixtures: real media from ../shared/media, one engine for the session, the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
MEDIA = SHARED / "media"
FR = MEDIA / "face_recognition"

_measurements: list[str] = []


def measure(line: str) -> None:
    """Record a measured number for the summary printed at the end of the run."""
    _measurements.append(line)


def pytest_terminal_summary(terminalreporter):
    if _measurements:
        terminalreporter.section("measurements")
        for line in _measurements:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def media() -> Path:
    if not MEDIA.is_dir():
        pytest.skip(f"real test media not found at {MEDIA} (it sits beside the checkout in CI)")
    return MEDIA


@pytest.fixture(scope="session")
def engine():
    from bystander.engine import Engine

    return Engine()


@pytest.fixture(scope="session")
def with_gallery(engine):
    """An engine sharing the session's models, with a gallery built from {name: [image paths]}."""
    from bystander.engine import Gallery
    from bystander.media.image import read_photo
    from bystander.registry import embed_registration_photo

    def build(people: dict[str, list[Path]], **config):
        vectors = {name: np.stack([embed_registration_photo(engine, read_photo(p).bgr, str(p), largest=True)
                                   for p in paths]) for name, paths in people.items()}
        e = engine.with_config(**config)  # a new engine on the same models: the session's keeps no gallery
        e.gallery = Gallery.from_people(vectors)
        return e

    return build


@pytest.fixture
def home(tmp_path) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    return h


def run_cli(*args, home: Path | None = None, check: bool | None = None, env=None):
    """The real ``bystander`` command in a subprocess: exit codes and stderr as a user sees them."""
    cmd = [sys.executable, "-m", "bystander"]
    if home is not None:
        cmd += ["--home", str(home)]
    cmd += [str(a) for a in args]
    full_env = dict(os.environ, **(env or {}))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=600)
    if check is True:
        assert proc.returncode == 0, proc.stderr
    return proc


_PEAK = ("import resource, subprocess, sys; p = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
         "sys.stderr.write(p.stderr); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
         "sys.exit(p.returncode)")


def run_measuring_peak(cmd: list[str]) -> tuple[subprocess.CompletedProcess, float]:
    """Run ``cmd``; returns it and its peak memory in MiB. A small Python starts it and reads the peak:
    forked straight from this large test process, the child's peak would count the pages it shared
    with us before exec."""
    proc = subprocess.run([sys.executable, "-c", _PEAK, *cmd], capture_output=True, text=True, cwd=ROOT)
    return proc, int(proc.stdout.split()[-1]) / 1024


def run_cli_tty(*args, home: Path | None = None, timeout: float = 600):
    """The real ``bystander`` command with a pseudo-terminal as stdin, stdout and stderr, the way a
    user runs it: progress bars and anything else that checks ``isatty`` take their terminal path.
    Returns (exit code, everything written to the terminal)."""
    import fcntl
    import pty
    import select
    import struct
    import termios
    import time

    cmd = [sys.executable, "-m", "bystander"]
    if home is not None:
        cmd += ["--home", str(home)]
    cmd += [str(a) for a in args]
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a real terminal's size
    proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    out = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    return code, out.decode(errors="replace")


def sharpness(img: np.ndarray, box) -> float:
    """Laplacian variance inside ``box``: high for a visible face, near zero once redacted."""
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    roi = img[max(0, y1):y2, max(0, x1):x2]
    grey = cv2.cvtColor(roi, cv2.COLOR_BGR2GRAY) if roi.ndim == 3 else roi
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def detail_kept(a: np.ndarray, b: np.ndarray, box) -> float:
    """How much of a face's own detail (eyes, mouth, nose) survives from ``a`` to ``b``: the normalised
    correlation of band-pass detail at the face's scale, as the shared judge (../shared/eval/score.py)
    measures it; it reads 0.87 or more for a face left visible. Unlike a sharpness ratio, it does not
    count the edge where two redacted regions meet as detail."""
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    x1, y1 = max(0, x1), max(0, y1)
    ga = cv2.cvtColor(a[y1:y2, x1:x2], cv2.COLOR_BGR2GRAY).astype(np.float32)
    gb = cv2.cvtColor(b[y1:y2, x1:x2], cv2.COLOR_BGR2GRAY).astype(np.float32)
    sigma = max(1.0, (y2 - y1) / 24)

    def dog(g):
        return cv2.GaussianBlur(g, (0, 0), 0.5 * sigma) - cv2.GaussianBlur(g, (0, 0), 1.5 * sigma)

    da, db = dog(ga).ravel(), dog(gb).ravel()
    da, db = da - da.mean(), db - db.mean()
    return float(da @ db / (np.linalg.norm(da) * np.linalg.norm(db) + 1e-9))


def region_diff(a: np.ndarray, b: np.ndarray, box) -> float:
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    return float(np.abs(a[y1:y2, x1:x2].astype(np.int16) - b[y1:y2, x1:x2].astype(np.int16)).mean())


def score(src: Path, out: Path) -> dict:
    """The shared judge (../shared/eval/score.py) on ``out`` against the Hamilton clip's ground truth."""
    proc = subprocess.run([sys.executable, str(SHARED / "eval" / "score.py"), str(src), str(out),
                           str(SHARED / "eval" / "short_hamilton_clip.gt.json"), "--json"],
                          capture_output=True, text=True, check=True)
    summary = proc.stdout.strip().splitlines()[-1]
    report = json.loads(proc.stdout[:proc.stdout.rindex("SUMMARY")])
    return {"summary": summary, **report}


class ScriptedDetector:
    """A detector that reports given faces, one list per frame: for the engine's bookkeeping."""

    def __init__(self, script):
        self.script = list(script)

    def detect(self, frame, analysis_size=None):
        return self.script.pop(0)


def face_at(x1, y1, x2, y2, score=0.9):
    from bystander.engine.face import Face

    return Face((x1, y1, x2, y2), score, np.zeros((5, 2), np.float32))
