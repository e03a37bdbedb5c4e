"""Real components for live tests: a looped publisher input, ffmpeg publishing it in real time,
nginx-rtmp destinations that record, a player that notes when each frame arrives, and
``bystander live`` itself in a subprocess."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from bystander.live.nginx import Application, NginxRtmp, free_port

FRAME = Fraction(1001, 30000)


def build_looped_input(clip: Path, out: Path, loops: int, size: tuple[int, int] | None = None) -> float:
    """``clip`` looped ``loops`` times without gaps, as OBS would send it: H.264 at 29.97 fps with a
    keyframe every 2 s, no B-frames, AAC audio; scaled to ``size`` (w, h) if given. Audio is cut to
    the video's span so every loop lines up. Returns one loop's duration in seconds."""
    with av.open(str(clip)) as c:
        decoded = list(c.decode(video=0))
        video_start = float(decoded[0].time or 0.0)
        images = [f.to_ndarray(format="bgr24") for f in decoded]
        del decoded
    if size is not None:
        images = [cv2.resize(img, size, interpolation=cv2.INTER_CUBIC) for img in images]
    with av.open(str(clip)) as c:
        rate = c.streams.audio[0].codec_context.sample_rate
        res = av.AudioResampler(format="s16", layout="stereo", rate=rate)
        chunks = [r.to_ndarray() for f in c.decode(audio=0) for r in res.resample(f)]
    pcm = np.concatenate(chunks, axis=1)  # 1 x (samples*2) interleaved s16
    loop_s = float(len(images) * FRAME)
    start = int(round(video_start * rate))
    need = int(round(loop_s * rate))
    stereo = pcm.reshape(-1, 2)[start:start + need]
    stereo = np.pad(stereo, ((0, need - len(stereo)), (0, 0)))
    with av.open(str(out), "w", format="flv") as o:
        v = o.add_stream("libx264", rate=Fraction(30000, 1001))
        v.width, v.height, v.pix_fmt = images[0].shape[1], images[0].shape[0], "yuv420p"
        v.options = {"preset": "veryfast", "g": "60", "crf": "18", "bf": "0"}
        a = o.add_stream("aac", rate=rate)
        a.layout = "stereo"
        n = 0
        block = 1024
        for loop in range(loops):
            for i, img in enumerate(images):
                f = av.VideoFrame.from_ndarray(img, format="bgr24")
                f.pts, f.time_base = (loop * len(images) + i) * 1001, Fraction(1, 30000)
                o.mux(v.encode(f))
            for s in range(0, need, block):
                part = np.ascontiguousarray(stereo[s:s + block]).reshape(1, -1)
                af = av.AudioFrame.from_ndarray(part, format="s16", layout="stereo")
                af.sample_rate, af.pts, af.time_base = rate, n, Fraction(1, rate)
                n += part.shape[1] // 2
                o.mux(a.encode(af))
        o.mux(v.encode(None))
        o.mux(a.encode(None))
    return loop_s


def publish(src: Path, url: str, seconds: float | None = None) -> subprocess.Popen:
    """ffmpeg publishing ``src`` in real time, as a streaming app does."""
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-re", "-i", str(src)]
    if seconds:
        cmd += ["-t", str(seconds)]
    return subprocess.Popen(cmd + ["-c", "copy", "-f", "flv", url],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


class Destination(NginxRtmp):
    """An nginx-rtmp server standing in for YouTube: it records whatever is published to ``app``."""

    def __init__(self, record_dir: Path, port: int | None = None):
        record_dir.mkdir(parents=True, exist_ok=True)
        super().__init__([Application("app", f"record all;\nrecord_path {record_dir};\nrecord_unique on;")],
                         port=port)
        self.record_dir = record_dir

    def recordings(self) -> list[Path]:
        return sorted(self.record_dir.glob("*.flv"))


@dataclass
class Player:
    """Plays a destination stream live and notes (arrival time, pts seconds) of each video packet."""

    url: str
    arrivals: list[tuple[float, float]] = field(default_factory=list)

    def start(self) -> "Player":
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with av.open(self.url, options={"rtmp_live": "live"}, timeout=(20, 5)) as c:
                    v = c.streams.video[0]
                    for p in c.demux(v):
                        if p.pts is not None:
                            self.arrivals.append((time.monotonic(), float(p.pts * p.time_base)))
                return
            except av.error.FFmpegError:
                if self.arrivals:
                    return
                time.sleep(0.3)

    def join(self, timeout: float = 30) -> None:
        self._thread.join(timeout)


class Bystander:
    """``bystander live`` in a subprocess, reading its JSON status lines."""

    def __init__(self, tmp: Path, home: Path, key: str, to: list[str], *extra: str, cpus: set[int] | None = None):
        """``cpus``: the only cores it may run on (a slower machine), None: all of them."""
        self.port = free_port()
        self.stats = tmp / "stats.jsonl"
        self.stderr_path = tmp / "bystander.stderr"
        cmd = [sys.executable, "-m", "bystander", "--home", str(home), "live",
               "--listen", f"rtmp://127.0.0.1:{self.port}/live", "--key", key,
               "--stats-json", str(self.stats), *[a for url in to for a in ("--to", url)], *extra]
        self._err = open(self.stderr_path, "w")
        pin = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self._err, preexec_fn=pin)
        self.ingest_url = f"rtmp://127.0.0.1:{self.port}/live"
        self._wait_listening()

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"bystander live exited: {self.stderr()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("bystander live did not start listening")

    def status(self) -> list[dict]:
        if not self.stats.exists():
            return []
        return [json.loads(line) for line in self.stats.read_text().splitlines() if line.strip()]

    def wait_for(self, predicate, timeout: float) -> dict | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s = self.status()
            if s and predicate(s[-1]):
                return s[-1]
            time.sleep(0.25)
        return None

    def stderr(self) -> str:
        if not self._err.closed:
            self._err.flush()
        return self.stderr_path.read_text()

    def stop(self, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            self._err.close()

    def wait(self, timeout: float) -> int:
        rc = self.proc.wait(timeout)
        self._err.close()
        return rc


def video_times(path: Path) -> list[float]:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        return sorted(float(p.pts * v.time_base) for p in c.demux(v) if p.pts is not None)


def video_size(path: Path) -> tuple[int, int]:
    """The recorded picture's (width, height)."""
    with av.open(str(path)) as c:
        ctx = c.streams.video[0].codec_context
        return ctx.width, ctx.height


def small_grey(img: np.ndarray) -> np.ndarray:
    return cv2.resize(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), (64, 36), interpolation=cv2.INTER_AREA).astype(np.float32)


def decode_audio(path: Path, rate: int = 8000, start: float = 0.0) -> tuple[np.ndarray, float]:
    """Mono float audio at ``rate`` and the time of its first sample (container seconds)."""
    with av.open(str(path)) as c:
        res = av.AudioResampler(format="flt", layout="mono", rate=rate)
        first, parts = None, []
        for f in c.decode(audio=0):
            for r in res.resample(f):
                if first is None and r.pts is not None:
                    first = float(r.pts * r.time_base)
                parts.append(r.to_ndarray().reshape(-1))
    return (np.concatenate(parts) if parts else np.zeros(0, np.float32)), (first or 0.0)


def circular(x: float, period: float) -> float:
    """``x`` folded into (-period/2, period/2]."""
    return (x + period / 2) % period - period / 2



def video_offset(recording: Path, reference: list[np.ndarray], interval: float, loop_s: float,
                 skip: int = 30, at: float = 0.0) -> float:
    """Seconds to add to a recording's timestamp to get the looped reference's (mod one loop), by
    matching recorded frames (redacted faces and all) against the reference frames; from ``at``
    seconds into the recording."""
    ref = np.stack([small_grey(img) for img in reference])
    offsets = []
    with av.open(str(recording)) as c:
        if at:
            c.seek(int(at * 1_000_000))  # the keyframe before ``at``
        for k, f in enumerate(c.decode(video=0)):
            if k % 15 or k < skip:
                continue
            j = int(np.abs(ref - small_grey(f.to_ndarray(format="bgr24"))).mean(axis=(1, 2)).argmin())
            offsets.append(circular(j * interval - float(f.pts * f.time_base), loop_s))
            if len(offsets) >= 40:
                break
    first = offsets[0]
    return float(first + np.median([circular(o - first, loop_s) for o in offsets]))


def audio_offset(recording: Path, reference: Path, loop_s: float, at: float = 5.0, window: float = 4.0) -> float:
    """The same for audio: ``window`` seconds of recorded audio from ``at`` cross-correlated with one
    loop of the reference's."""
    rate = 8000
    ref, ref_start = decode_audio(reference, rate)
    one_loop = ref[: int(round(loop_s * rate))]
    rec, rec_start = decode_audio(recording, rate)
    a = int(at * rate)
    piece = rec[a: a + int(window * rate)]
    hay = np.concatenate([one_loop, one_loop])
    n = len(hay) + len(piece)
    corr = np.fft.irfft(np.fft.rfft(hay, n) * np.conj(np.fft.rfft(piece, n)), n)[: len(one_loop)]
    lag = int(corr.argmax())
    return circular(lag / rate + ref_start - (rec_start + at), loop_s)


# A frame counter painted as 16 big blocks (two rows of eight, bit i in block i), readable after
# H.264 and even after the relay's whole-frame redaction (its cells are a third of a block).
_BLOCK = 80


def counter_frame(i: int, size: tuple[int, int] = (640, 360)) -> np.ndarray:
    w, h = size
    img = np.full((h, w, 3), 90, np.uint8)
    block = min(_BLOCK, w // 8, h // 4)
    for b in range(16):
        r, c = divmod(b, 8)
        img[r * block:(r + 1) * block, c * block:(c + 1) * block] = 230 if (i >> b) & 1 else 20
    return img


def read_counter(img: np.ndarray) -> int:
    h, w = img.shape[:2]
    block = min(_BLOCK, w // 8, h // 4)
    grey = img.mean(axis=2)
    return sum(1 << b for b in range(16)
               if grey[(b // 8) * block + block // 2, (b % 8) * block + block // 2] > 125)


def build_counter_input(out: Path, n: int, size: tuple[int, int] = (640, 360), audio: bool = True,
                        skip: int = 0, gop: int = 60) -> None:
    """``n`` frames numbered 0..n-1 at 29.97 fps (H.264, a keyframe every ``gop`` frames, no
    B-frames) and a tone as AAC, as FLV; the first ``skip`` encoded frames are left out, so a
    ``skip`` that is not a multiple of ``gop`` starts the stream mid-GOP."""
    rate = 48000
    with av.open(str(out), "w", format="flv") as o:
        v = o.add_stream("libx264", rate=Fraction(30000, 1001))
        v.width, v.height, v.pix_fmt = size[0], size[1], "yuv420p"
        v.options = {"preset": "veryfast", "g": str(gop), "bf": "0", "crf": "20"}
        a = None
        if audio:
            a = o.add_stream("aac", rate=rate)
            a.layout = "stereo"
        samples = 0

        def mux_video(packets) -> None:
            o.mux([p for p in packets if p.pts is None or p.pts * p.time_base >= skip * FRAME - FRAME / 2])

        for i in range(n):
            f = av.VideoFrame.from_ndarray(counter_frame(i, size), format="bgr24")
            f.pts, f.time_base = i * 1001, Fraction(1, 30000)
            mux_video(v.encode(f))
            while a is not None and samples * 30000 < (i + 1) * 1001 * rate:
                t = (samples + np.arange(1024)) / rate
                tone = (0.2 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16)
                af = av.AudioFrame.from_ndarray(np.repeat(tone, 2).reshape(1, -1), format="s16", layout="stereo")
                af.sample_rate, af.pts, af.time_base = rate, samples, Fraction(1, rate)
                samples += 1024
                if samples * 30000 > skip * 1001 * rate:
                    o.mux(a.encode(af))
        mux_video(v.encode(None))
        if a is not None:
            o.mux(a.encode(None))


def recorded_counters(path: Path) -> tuple[list[int], list[float]]:
    """The counter read off every recorded frame, and each frame's timestamp (s)."""
    counters, times = [], []
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            counters.append(read_counter(f.to_ndarray(format="bgr24")))
            times.append(float(f.pts * f.time_base))
    return counters, times


def build_resolution_change_input(out: Path, parts: list[tuple[int, tuple[int, int]]]) -> None:
    """One FLV whose picture size changes mid-stream: each (frames, (w, h)) part as H.264 with its
    own SPS in-band, the counter running on across parts, no audio."""
    stream, first = b"", 0
    for n, size in parts:
        piece = out.with_suffix(f".{first}.h264")
        with av.open(str(piece), "w", format="h264") as o:
            v = o.add_stream("libx264", rate=Fraction(30000, 1001))
            v.width, v.height, v.pix_fmt = size[0], size[1], "yuv420p"
            v.options = {"preset": "veryfast", "g": "60", "bf": "0"}
            for i in range(n):
                f = av.VideoFrame.from_ndarray(counter_frame(first + i, size), format="bgr24")
                f.pts, f.time_base = i * 1001, Fraction(1, 30000)
                o.mux(v.encode(f))
            o.mux(v.encode(None))
        stream += piece.read_bytes()
        piece.unlink()
        first += n
    raw = out.with_suffix(".h264")
    raw.write_bytes(stream)
    subprocess.run(["ffmpeg", "-nostdin", "-y", "-v", "error", "-framerate", "30000/1001", "-f", "h264", "-i", str(raw),
                    "-c", "copy", "-f", "flv", str(out)], check=True)
    raw.unlink()


def build_tone_input(out: Path, seconds: float) -> None:
    """Audio only: a tone as AAC in FLV."""
    subprocess.run(["ffmpeg", "-nostdin", "-y", "-v", "error", "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
                    "-c:a", "aac", "-f", "flv", str(out)], check=True)


def rtmp_handshake_only(port: int) -> socket.socket:
    """A client that completes the RTMP handshake and then sends nothing."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"\x03" + bytes(8) + os.urandom(1528))
    reply = b""
    while len(reply) < 1 + 1536 * 2:
        chunk = s.recv(8192)
        if not chunk:
            break
        reply += chunk
    s.sendall(reply[1:1537])  # C2 echoes S1
    return s
