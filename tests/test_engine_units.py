"""Engine pieces on synthetic arrays: redaction geometry, tracking, look-ahead."""

import numpy as np
import pytest

from bystander.engine import Engine, Style, redact_frame, redact_region
from bystander.engine.lookahead import Lookahead
from bystander.engine.redact import padded_box
from bystander.engine.track import Tracker
from conftest import ScriptedDetector
from conftest import face_at as face


def textured(h=240, w=320, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("style", list(Style))
def test_redaction_covers_the_padded_box_and_nothing_far_away(style):
    img = textured()
    out = img.copy()
    box = (100, 80, 140, 130)
    redact_region(out, box, style)
    px1, py1, px2, py2 = padded_box(box, img.shape)
    assert px1 < 100 and py1 < 80 and px2 > 140 and py2 > 130  # padding for hair and chin
    inside = out[py1:py2, px1:px2].astype(int)
    assert np.abs(inside - img[py1:py2, px1:px2]).mean() > 40  # random texture destroyed
    assert inside.std(axis=(0, 1)).max() < 50  # nothing of the texture's detail survives
    assert np.array_equal(out[:, 250:], img[:, 250:])  # far away untouched


def test_redaction_at_the_frame_edge():
    img = textured()
    redact_region(img, (-10, -10, 30, 40))
    redact_region(img, (300, 200, 330, 250))


def test_whole_frame_redaction_leaves_no_detail():
    img = textured()
    redact_frame(img)
    assert np.abs(np.diff(img.astype(int), axis=1)).mean() < 5


def test_tracker_keeps_identity_and_holds_missed_faces():
    tr = Tracker(hold=3)
    seen, held = tr.update([face(10, 10, 50, 60)])
    tid = seen[0].id
    seen, held = tr.update([face(14, 12, 54, 62)])
    assert seen[0].id == tid and not held
    for _ in range(3):
        seen, held = tr.update([])
        assert [t.id for t in held] == [tid]
    seen, held = tr.update([])
    assert not held and not tr.tracks


def test_tracker_does_not_match_a_much_smaller_box_nearby():
    tr = Tracker()
    tr.update([face(100, 40, 180, 200)])
    seen, held = tr.update([face(140, 0, 180, 46)])
    assert [t.id for t in held] == [1] and seen[0].id == 2


def test_registered_face_keeps_clear_of_guesses_but_not_of_detected_faces():
    eng = Engine.__new__(Engine)
    from bystander.engine.pipeline import EngineConfig
    eng.config = EngineConfig()
    img = textured()
    keep = (100, 60, 160, 140)
    out = eng.redact(img.copy(), boxes=[], keep=[keep], guesses=[(150, 100, 200, 160)])
    assert np.array_equal(out[60:140, 100:160], img[60:140, 100:160])
    out = eng.redact(img.copy(), boxes=[(150, 100, 200, 160)], keep=[keep], guesses=[])
    assert not np.array_equal(out[100:140, 150:160], img[100:140, 150:160])  # the overlap is redacted
    assert np.array_equal(out[60:100, 100:150], img[60:100, 100:150])  # padding spill restored


def test_lookahead_backfills_a_face_before_its_first_detection():
    from bystander.engine.pipeline import EngineConfig

    script = [[], [], [], [face(50, 50, 90, 100)], [face(51, 50, 91, 100)]]
    eng = Engine(config=EngineConfig(everyone=True), detector=ScriptedDetector(script))
    look = Lookahead(eng.stream(), depth=2)
    done = []
    for i in range(5):
        done.extend(look.push(np.zeros((120, 160, 3), np.uint8), i))
    done.extend(look.flush())
    assert [p.payload for p in done] == [0, 1, 2, 3, 4]
    assert [p.backfilled for p in done] == [0, 1, 1, 0, 0]


def test_lookahead_covers_a_face_that_appears_on_a_skipped_frame():
    from bystander.engine.pipeline import EngineConfig

    # Detection on frames 0, 2, 4; the face enters on frame 1 (skipped) and is found on frame 2.
    script = [[], [face(50, 50, 90, 100)], [face(52, 50, 92, 100)]]
    eng = Engine(config=EngineConfig(everyone=True), detector=ScriptedDetector(script))
    look = Lookahead(eng.stream(), depth=4, detect_every=2)
    done = []
    for i in range(5):
        done.extend(look.push(np.zeros((120, 160, 3), np.uint8), i))
    done.extend(look.flush())
    assert [p.payload for p in done] == [0, 1, 2, 3, 4]
    assert done[1].backfilled == 1  # the skipped frame it entered on is covered
    assert [d.reason for d in done[3].decisions] == ["predicted"]  # carried along its track
    assert [d.reason for d in done[4].decisions] == ["everyone"]


class ScriptedRecogniser:
    """Embeds each face as the person its box's left edge says: x < 500 is "ana", else nobody.
    Counts the faces it was asked about, per frame."""

    def __init__(self):
        self.asked: list[int] = []

    def embed(self, frame, faces):
        self.asked.append(len(faces))
        return np.stack([np.array([1.0, 0.0]) if f.box[0] < 500 else np.array([0.0, 1.0]) for f in faces])


def _recognising_engine(script):
    from bystander.engine import Gallery

    rec = ScriptedRecogniser()
    engine = Engine(Gallery.from_people({"ana": np.array([[1.0, 0.0]])}), detector=ScriptedDetector(script),
                    recogniser=rec)
    return engine, rec


def test_a_calm_registered_face_is_reverified_now_and_then_and_every_frame_with_someone_near():
    frame = np.zeros((720, 1280, 3), np.uint8)
    alone = [[face(100 + i, 100, 200 + i, 220)] for i in range(30)]
    engine, rec = _recognising_engine(alone)
    stream = engine.stream()
    shown, checked = [], []
    for i in range(len(alone)):
        asked = len(rec.asked)
        shown.append(not stream.analyse(frame)[0].redact)
        if len(rec.asked) > asked:
            checked.append(i)
    assert shown[:2] == [False, False] and all(shown[2:])  # confirmed after 3 agreeing recognitions
    assert checked == [0, 1, 2, 3, 4, 9, 14, 19, 24, 29]  # every frame until calm, then every 5th
    # The same face with another close beside it: re-verified on every frame.
    crowded = [[face(100, 100, 200, 220), face(210, 100, 300, 220)] for _ in range(20)]
    engine, rec = _recognising_engine(crowded)
    stream = engine.stream()
    for _ in crowded:
        stream.analyse(frame)
    assert len(rec.asked) == 20


def test_unknown_faces_are_rechecked_less_and_less_often():
    frame = np.zeros((720, 1280, 3), np.uint8)
    script = [[face(600, 100, 700, 220)] for _ in range(60)]
    engine, rec = _recognising_engine(script)
    stream = engine.stream()
    assert all(stream.analyse(frame)[0].redact for _ in script)
    # Checked at frames 0, 3, 9, 21, 36, 51: the gap doubles from 3 up to 15.
    assert len(rec.asked) == 6


def test_a_calm_registered_face_that_jumps_is_reverified_on_that_frame():
    frame = np.zeros((720, 1280, 3), np.uint8)
    script = [[face(440, 100, 540, 220)] for _ in range(12)] + [[face(505, 100, 605, 220)]]
    engine, rec = _recognising_engine(script)
    stream = engine.stream()
    decisions = [stream.analyse(frame)[0] for _ in script]
    assert not decisions[-2].redact  # Ana, calm, last verified frames ago
    assert decisions[-1].track_id == decisions[-2].track_id  # the tracker took it for the same face...
    assert decisions[-1].redact  # ...but it moved too far to be trusted: checked, and it is nobody


def test_a_registered_face_whose_detection_turns_faint_is_redacted_on_that_frame():
    from bystander.engine import MIN_RECOGNITION_SCORE

    frame = np.zeros((720, 1280, 3), np.uint8)
    script = [[face(100, 100, 200, 220)] for _ in range(6)]
    script.append([face(100, 100, 200, 220, score=MIN_RECOGNITION_SCORE - 0.05)])
    engine, rec = _recognising_engine(script)
    stream = engine.stream()
    decisions = [stream.analyse(frame)[0] for _ in script]
    assert not decisions[-2].redact  # Ana, confirmed
    assert decisions[-1].redact and decisions[-1].reason == "faint"
