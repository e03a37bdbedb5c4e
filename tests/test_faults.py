"""The fail-safe under faults inside the engine: the detector raises, stalls past the deadline or
answers with impossible boxes, and redaction raises. A real relay (a WebRTC sender on 127.0.0.1,
the WHIP answer, the source, judge, encoder and a recording) must send every frame, each one either
judged or redacted whole, count the whole ones in its stats and privacy report, and keep going.
A file run with the same faults must fail with nothing written."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from bystander.engine import Engine, EngineConfig, Face, Gallery
from bystander.engine.face import DetectorFault
from conftest import FR, measure

aiortc = pytest.importorskip("aiortc")
from whip_sender import FramesTrack  # noqa: E402

FPS = 30
N = 300  # 10 s
SIZE = (640, 360)
STRIP = 20  # the frame number, in 16 bright or dark cells across the top
# Counters of the frames each fault falls on (the first detected at or after it, for the detector's).
RAISE, GARBAGE, REDACTION, STALL = 40, 80, 115, 150
# Longer than a frame may wait for its analysis (0.25 s), with the patience a burst at the start
# earned (frames that waited for the first sender report) still left over.
STALL_SECONDS = 2.0
RECOVERED = 2.0  # seconds after the last fault from which every frame is judged again


def numbered(i: int, picture: np.ndarray) -> np.ndarray:
    frame = picture.copy()
    cell = SIZE[0] // 16
    for b in range(16):
        frame[:STRIP, b * cell:(b + 1) * cell] = 230 if (i >> b) & 1 else 20
    return frame


def number(frame: np.ndarray) -> int:
    cell = SIZE[0] // 16
    grey = frame[STRIP // 2].mean(axis=1)
    return sum(1 << b for b in range(16) if grey[b * cell + cell // 2] > 125)


def two_people() -> np.ndarray:
    """Two faces of about 80 px (Obama and Biden) on a 640x360 frame, below the number strip."""
    img = cv2.imread(str(FR / "two_people.jpg"))
    h = SIZE[1] - STRIP
    w = round(img.shape[1] * h / img.shape[0])
    frame = np.full((SIZE[1], SIZE[0], 3), 90, np.uint8)
    frame[STRIP:, (SIZE[0] - w) // 2:(SIZE[0] - w) // 2 + w] = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
    return frame


class Faults:
    """Which frames fail and how, keyed by ``key(frame)``; each fault falls once, on the first frame
    at or after its key that reaches it, and ``fell`` records where."""

    def __init__(self, key, **at: int):
        self.key = key
        self.pending = dict(at)
        self.fell: dict[str, int] = {}
        self._lock = threading.Lock()

    def falls(self, kind: str, frame: np.ndarray) -> bool:
        with self._lock:
            at = self.pending.get(kind)
            if at is None:
                return False
            n = self.key(frame)
            if n < at:
                return False
            del self.pending[kind]
            self.fell[kind] = n
            return True


class FaultyDetector:
    """The real detector, with the faults a model or its runtime can have."""

    def __init__(self, real, faults: Faults):
        self.real, self.faults = real, faults

    def detect(self, frame: np.ndarray, analysis_size: int | None = None) -> list[Face]:
        if self.faults.falls("raise", frame):
            raise RuntimeError("injected: the detector failed")
        if self.faults.falls("stall", frame):
            time.sleep(STALL_SECONDS)
        faces = self.real.detect(frame, analysis_size)
        if self.faults.falls("garbage", frame):
            nowhere = np.full((5, 2), np.nan, np.float32)
            return [*faces, Face((np.nan, 10.0, 80.0, np.inf), 0.9, nowhere), Face((300.0, 200.0, 100.0, 50.0), 2.0,
                                                                                     np.zeros((5, 2), np.float32))]
        return faces


class FaultyEngine(Engine):
    """The real engine, whose redaction fails where ``faults`` say."""

    faults: Faults

    def redact_decisions(self, frame, decisions):
        if decisions is not None and self.faults.falls("redaction", frame):
            raise RuntimeError("injected: redaction failed")
        return super().redact_decisions(frame, decisions)


def faulty_engine(engine: Engine, faults: Faults) -> FaultyEngine:
    """The session's models, nobody registered (every face is someone else), failing as told."""
    faulty = FaultyEngine(Gallery.empty(), EngineConfig(), FaultyDetector(engine.detector, faults))
    faulty.faults = faults
    return faulty


async def _send(source, picture: np.ndarray) -> None:
    from bystander.server.whip import answer

    sender = aiortc.RTCPeerConnection(aiortc.RTCConfiguration(iceServers=[]))
    sender.addTrack(FramesTrack(lambda i: numbered(i, picture), N))
    await sender.setLocalDescription(await sender.createOffer())
    receiver, sdp = await answer(sender.localDescription.sdp, source)
    await sender.setRemoteDescription(aiortc.RTCSessionDescription(sdp, "answer"))
    await asyncio.sleep(N / FPS + 2.0)
    await sender.close()
    await receiver.close()


def _sharpness(image: np.ndarray, where: np.ndarray) -> float:
    return float(np.abs(cv2.Laplacian(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.CV_32F))[where].mean())


def test_a_relay_whose_engine_fails_sends_every_frame_judged_or_redacted_whole(engine, tmp_path):
    from bystander.live.relay import Relay, RelayOptions
    from bystander.live.source import WebRtcSource

    picture = two_people()
    faces = [tuple(int(v) for v in f.box) for f in engine.detect(picture)]
    assert len(faces) == 2
    outside = np.ones(picture.shape[:2], bool)  # the scene away from the faces and the strip
    outside[:STRIP + 10] = False
    for x1, y1, x2, y2 in faces:
        outside[max(0, y1 - 40):y2 + 40, max(0, x1 - 40):x2 + 40] = False

    faults = Faults(number, **{"raise": RAISE, "garbage": GARBAGE, "redaction": REDACTION, "stall": STALL})
    source = WebRtcSource()
    out = tmp_path / "out.mp4"
    relay = Relay(faulty_engine(engine, faults), source, RelayOptions(destinations=[], record=out))
    result: dict = {}
    runner = threading.Thread(target=lambda: result.update(relay.run()))
    runner.start()
    asyncio.run(_send(source, picture))
    runner.join(60)
    assert not runner.is_alive()
    assert set(faults.fell) == {"raise", "garbage", "redaction", "stall"}, faults.fell

    whole, judged = [], []
    with av.open(str(out)) as c:
        frames = [(f.pts, f.to_ndarray(format="bgr24")) for f in c.decode(video=0)]
    # Every frame, once, in its place: as many as were sent, in order, each judged one carrying its
    # own number (its timestamp can move on a loaded machine, where the sender's reports come late).
    assert len(frames) == N and all(a[0] < b[0] for a, b in zip(frames, frames[1:]))
    scene = _sharpness(picture, outside)
    # The number's cells away from the faces: a face's blur reaches into the strip above it.
    cell = SIZE[0] // 16
    readable = sum(1 << b for b in range(16)
                   if all(b * cell >= x2 + 60 or (b + 1) * cell <= x1 - 60 for x1, _, x2, _ in faces))
    assert readable & 0b11 == 0b11, bin(readable)  # a frame out of place by 1 to 3 shows
    for i, (_, image) in enumerate(frames):
        for x1, y1, x2, y2 in faces:  # no face is ever left as it was
            assert np.abs(image[y1:y2, x1:x2].astype(int) - picture[y1:y2, x1:x2]).mean() > 12, f"frame {i}"
        if _sharpness(image, outside) < 0.35 * scene:
            whole.append(i)
        else:
            assert number(image) & readable == i & readable, f"frame {i} out of its place"
            judged.append(i)
    measure(f"faults: {len(frames)} of {N} frames out, {len(whole)} redacted whole, faults at {faults.fell}")
    for kind in ("raise", "garbage", "redaction"):
        assert faults.fell[kind] in whole, (kind, faults.fell[kind])
    stalled = faults.fell["stall"]
    assert any(stalled < i <= stalled + FPS for i in whole)  # frames its stall made late
    last = max(faults.fell.values()) + STALL_SECONDS * FPS
    assert all(i in judged for i in range(int(last + RECOVERED * FPS), N))  # the stream went on, judged
    assert result["frames"] == N and result["blank"] == len(whole)
    assert result["errors"] == 3  # the detector's raise, its impossible boxes, the redaction's raise
    assert result["privacy"]["frames_redacted_whole"] == len(whole)
    assert result["privacy"]["frames_redacted_whole_for_faults"] >= 3
    assert "the engine failed on it" in result["privacy"]["whole_frame_reason"]


@pytest.mark.parametrize("kind", ["raise", "garbage", "redaction", "stall"])
def test_a_file_whose_engine_fails_is_not_written(engine, tmp_path, kind):
    """A file has no deadline: a stalled detector only slows it; any other fault ends the run with
    the output and the report left as they were."""
    from bystander.media.redact_video import redact_video

    calls = iter(range(10**9))
    faults = Faults(lambda frame: next(calls), **{kind: 20})
    src = FR / "short_hamilton_clip.mp4"
    out, report = tmp_path / "out.mp4", tmp_path / "out.json"
    if kind == "stall":
        redact_video(faulty_engine(engine, faults), src, out, report=report, preset="ultrafast")
        assert out.exists() and report.exists() and faults.fell
        return
    with pytest.raises((RuntimeError, DetectorFault)):
        redact_video(faulty_engine(engine, faults), src, out, report=report, preset="ultrafast")
    assert faults.fell and not out.exists() and not report.exists()
    assert sorted(p.name for p in Path(tmp_path).iterdir()) == []
