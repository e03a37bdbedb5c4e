"""Engine pieces on synthetic arrays: redaction geometry and tracking (the judge: test_judge.py)."""

import numpy as np
import pytest

from bystander.engine import Engine, Sticker, Style, redact_frame, redact_region
from bystander.engine.redact import padded_box
from bystander.engine.track import Tracker
from conftest import face_at as face


def textured(h=240, w=320, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


# A picture for Style.IMAGE, transparent but for a bar across its middle: the face must be redacted
# under the transparent part too.
STICKER = Sticker(np.zeros((60, 60, 4), np.uint8))
STICKER.bgra[25:35] = (0, 0, 255, 255)


@pytest.mark.parametrize("style", list(Style))
def test_redaction_covers_the_padded_box_and_nothing_far_away(style):
    img = textured()
    out = img.copy()
    box = (100, 80, 140, 130)
    redact_region(out, box, style, sticker=STICKER)
    px1, py1, px2, py2 = padded_box(box, img.shape)
    assert px1 < 100 and py1 < 80 and px2 > 140 and py2 > 130  # padding for hair and chin
    inside = out[py1:py2, px1:px2].astype(int)
    assert np.abs(inside - img[py1:py2, px1:px2]).mean() > 40  # random texture destroyed
    # Nothing of the face's detail survives: another face there leaves nearly the same pixels (two
    # such textures differ by 85 on average; a cell's average by far less).
    other = textured(seed=1)
    redact_region(other, box, style, sticker=STICKER)
    assert np.abs(inside - other[py1:py2, px1:px2]).mean() < 25
    assert np.array_equal(out[:, 250:], img[:, 250:])  # far away untouched


@pytest.mark.parametrize("style", list(Style))
def test_redaction_at_the_frame_edge(style):
    """A face cut by the frame's edge is redacted on the part inside the frame, as one inside is."""
    boxes = [(-10, -10, 30, 40), (300, 200, 330, 250)]  # over the top-left corner, the bottom-right one
    img, other = textured(), textured(seed=1)
    out = img.copy()
    for box in boxes:
        redact_region(out, box, style, sticker=STICKER)
        redact_region(other, box, style, sticker=STICKER)
    for x1, y1, x2, y2 in [(0, 0, 30, 40), (300, 200, 320, 240)]:  # each box's part inside the frame
        inside = out[y1:y2, x1:x2].astype(int)
        assert np.abs(inside - img[y1:y2, x1:x2]).mean() > 40
        assert np.abs(inside - other[y1:y2, x1:x2]).mean() < 25
    assert out.shape == img.shape
    assert np.array_equal(out[80:160, 100:220], img[80:160, 100:220])  # the middle untouched


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
    assert np.abs(out[100:160, 160:200].astype(int) - img[100:160, 160:200]).mean() > 40  # the guess beside it is
    out = eng.redact(img.copy(), boxes=[(150, 100, 200, 160)], keep=[keep], guesses=[])
    assert np.abs(out[100:140, 150:160].astype(int) - img[100:140, 150:160]).mean() > 40  # the overlap is redacted
    assert np.array_equal(out[60:100, 100:150], img[60:100, 100:150])  # padding spill restored
