"""The look-ahead judge: scripted detections for its bookkeeping, real faces for its promises."""

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from bystander.engine import Engine, EngineConfig, Gallery, Reason
from bystander.engine.judge import Judge, Mode
from conftest import FR, MEDIA, ScriptedDetector
from conftest import face_at as face

BLACK = np.zeros((120, 1000, 3), np.uint8)  # wide enough to hold every scripted face


def frontal_face(x1, y1, x2, y2, score=0.9):
    """A scripted face with landmarks of a face seen from the front."""
    f = face(x1, y1, x2, y2, score)
    w, h = x2 - x1, y2 - y1
    f.landmarks[:] = [[x1 + 0.3 * w, y1 + 0.4 * h], [x1 + 0.7 * w, y1 + 0.4 * h], [x1 + 0.5 * w, y1 + 0.6 * h],
                      [x1 + 0.35 * w, y1 + 0.8 * h], [x1 + 0.65 * w, y1 + 0.8 * h]]
    return f


def run_frames(judge, frames):
    out = []
    for i, image in enumerate(frames):
        out.extend(judge.push(image, i))
    out.extend(judge.flush())
    assert [j.payload for j in out] == list(range(len(frames)))
    return out


def run(judge, n, modes=None):
    out = []
    for i in range(n):
        out.extend(judge.push(BLACK, i, modes[i] if modes else None))
    out.extend(judge.flush())
    assert [j.payload for j in out] == list(range(n))
    return out


def test_a_face_is_covered_before_its_first_detection():
    script = [[], [], [], [face(50, 50, 90, 100)], [face(51, 50, 91, 100)]]
    eng = Engine(config=EngineConfig(everyone=True), detector=ScriptedDetector(script))
    out = run(Judge(eng, window=4), 5)
    assert [[d.reason for d in j.decisions] for j in out] == [
        [Reason.BACKFILL], [Reason.BACKFILL], [Reason.BACKFILL], [Reason.EVERYONE], [Reason.EVERYONE]]


def test_a_faint_new_face_is_covered_over_the_frames_no_detection_looked_at():
    # Detection on frames 0 and 6 only: a faint face (perhaps a hand, so covered only a little
    # before it is first seen) found on frame 6 may have been there on any of frames 1-5.
    script = [[], [face(50, 50, 90, 100, score=0.35)], [face(50, 50, 90, 100, score=0.35)]]
    eng = Engine(config=EngineConfig(everyone=True), detector=ScriptedDetector(script))
    out = run(Judge(eng, window=8, detect_every=6), 13)
    assert [bool(j.decisions) for j in out[:7]] == [False] + [True] * 6


def test_skipped_frames_place_a_face_between_its_detections():
    # Detection on frames 0, 2, 4; the face moves from x=50 to x=90.
    script = [[face(50, 50, 90, 100)], [face(70, 50, 110, 100)], [face(90, 50, 130, 100)]]
    eng = Engine(config=EngineConfig(everyone=True), detector=ScriptedDetector(script))
    out = run(Judge(eng, window=4, detect_every=2), 5)
    (d,) = out[1].decisions
    assert d.reason is Reason.INTERPOLATED and d.redact
    x1, _, x2, _ = d.face.box
    assert x1 <= 60 <= 100 <= x2  # where it was halfway: (60, 50, 100, 100)


def test_a_fast_face_is_placed_between_its_own_detections_not_the_trail_it_left():
    # Detection on frames 0, 2, 4; the face moves 25 px (most of its width) between detections, so
    # frame 2 also covers where it was on frame 0 (a trail). Frame 3 lies between frames 2 and 4.
    script = [[face(10, 50, 50, 100)], [face(35, 50, 75, 100)], [face(60, 50, 100, 100)]]
    eng = Engine(config=EngineConfig(everyone=True), detector=ScriptedDetector(script))
    out = run(Judge(eng, window=4, detect_every=2), 5)
    (d,) = [d for d in out[3].decisions if d.reason is Reason.INTERPOLATED]
    x1, _, x2, _ = d.face.box
    assert x1 <= 47.5 and 87.5 <= x2  # where it was: (47.5, 50, 87.5, 100)


def test_a_face_too_fast_to_follow_between_detections_is_covered_on_its_way():
    # Detection on frames 0, 4, 8; the face moves 20 px a frame, twice its width between detections:
    # tracking takes each detection for a new face. On frame 2 it is at (50, 50, 90, 100).
    script = [[face(10, 50, 50, 100)], [face(90, 50, 130, 100)], [face(170, 50, 210, 100)]]
    eng = Engine(config=EngineConfig(everyone=True), detector=ScriptedDetector(script))
    out = run(Judge(eng, window=8, detect_every=4), 9)
    for i in (1, 2, 3, 5, 6, 7):
        x = 10 + 20 * i
        assert any(d.redact and d.face.box[0] <= x + 5 and x + 35 <= d.face.box[2] for d in out[i].decisions), i


def test_a_crossing_walker_detected_every_sixth_frame_is_covered_on_every_frame(media):
    """The pedestrian clip at 720p, detected every 6th frame as a slow live machine does: the woman
    in the pink scarf crosses the foreground faster than tracking follows at that stride (about 25 px
    a frame); every frame she is boxed on (tests/gt) must read redacted to the shared judge."""
    import json

    import av

    from labelled import shared_score

    gt = json.loads((Path(__file__).parent / "gt" / "pedestrians.gt.json").read_text())
    scale = 1280 / 1920
    with av.open(str(media / "facenet_pytorch" / "video.mp4")) as c:
        frames = [f.to_ndarray(width=1280, height=720, format="bgr24") for f in c.decode(video=0)]
    eng = Engine(config=EngineConfig(everyone=True))
    out = run_frames(Judge(eng, window=14, detect_every=6), frames)
    score = shared_score()
    visible = []
    for i, (image, judged) in enumerate(zip(frames, out)):
        boxes = [f["box"] for f in gt["frames"][i]["faces"] if f["track"] == 5 and not f["ignore"]]
        redacted = eng.redact_decisions(image.copy(), judged.decisions)
        grey_in, grey_out = (cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32) for img in (image, redacted))
        for box in boxes:
            m = score.measure(grey_in, grey_out, [v * scale for v in box])
            if m is not None and score.decide(m, "bystander") == "VISIBLE":
                visible.append(i)
    assert sum(1 for f in gt["frames"] for g in f["faces"] if g["track"] == 5) == 36
    assert visible == []


def test_a_skipped_frame_no_detection_follows_in_time_is_redacted_whole():
    eng = Engine(config=EngineConfig(everyone=True), detector=ScriptedDetector([[face(50, 50, 90, 100)]] * 2))
    judge = Judge(eng, window=1)
    out = [*judge.push(BLACK, 0, Mode.DETECT), *judge.push(BLACK, 1, Mode.SKIP), *judge.push(BLACK, 2, Mode.SKIP)]
    assert out[0].decisions and out[1].decisions is None


def test_frame_by_frame_a_skipped_frame_covers_where_the_face_will_be():
    eng = Engine(detector=ScriptedDetector([[face(10, 10, 50, 60)], [face(20, 10, 60, 60)]]))
    judge = Judge(eng, window=0)
    out = [*judge.push(BLACK, 0, Mode.DETECT), *judge.push(BLACK, 1, Mode.DETECT), *judge.push(BLACK, 2, Mode.SKIP)]
    (d,) = out[2].decisions
    x1, y1, x2, y2 = d.face.box
    assert d.redact and d.reason is Reason.PREDICTED
    assert x1 <= 30 and x2 >= 70 and y1 <= 10 and y2 >= 60  # the face moved on to (30, 10, 70, 60)


class ScriptedRecogniser:
    """Embeds each face by its similarity to Ana, scripted per call; counts the faces asked about."""

    def __init__(self, similarities):
        self.similarities = list(similarities)
        self.asked = 0

    def embed(self, frame, faces):
        self.asked += len(faces)
        out = []
        for _ in faces:
            s = self.similarities.pop(0)
            out.append([s, float(np.sqrt(1 - s * s))])
        return np.array(out, np.float32)


def recognising(script, similarities, **config):
    rec = ScriptedRecogniser(similarities)
    eng = Engine(Gallery.from_people({"ana": np.array([[1.0, 0.0]])}), EngineConfig(**config),
                 detector=ScriptedDetector(script), recogniser=rec)
    return eng, rec


def shown(out):
    return [any(not d.redact for d in j.decisions) for j in out]


def test_a_confirmed_face_is_shown_back_to_the_start_of_its_track():
    script = [[frontal_face(100, 20, 150, 80)] for _ in range(6)]
    eng, _ = recognising(script, [0.45, 0.45, 0.6, 0.6, 0.6, 0.6])
    assert shown(run(Judge(eng, window=4), 6)) == [True] * 6


def test_turned_views_are_no_evidence_against_but_a_frontal_mismatch_is():
    turned = face(100, 20, 150, 80)  # landmarks all at one point: not a frontal view
    turned.landmarks[:] = [[110, 40], [120, 40], [145, 55], [112, 70], [122, 70]]
    script = [[frontal_face(100, 20, 150, 80)]] * 3 + [[turned]] * 4 + [[frontal_face(100, 20, 150, 80)]] * 3
    # Matches on 0-2; poor similarities while turned (3-6); a confident non-match facing front at 7.
    eng, _ = recognising(script, [0.6, 0.6, 0.6, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1], reverify_every=1)
    assert shown(run(Judge(eng, window=20), 10)) == [True] * 3 + [False] * 7  # withdrawn back to its last match
    eng, _ = recognising(script[:7], [0.6, 0.6, 0.6, 0.1, 0.1, 0.1, 0.1], reverify_every=1)
    assert shown(run(Judge(eng, window=20), 7)) == [True] * 7  # turning away alone withdraws nothing


class PlaceRecogniser(ScriptedRecogniser):
    """Ana is whoever stands at x=100; anyone elsewhere resembles her a little (0.45: no match, but no
    clear non-match either)."""

    def __init__(self):
        super().__init__([])

    def embed(self, frame, faces):
        self.similarities = [0.6 if f.box[0] == 100 else 0.45 for f in faces]
        return super().embed(frame, faces)


def test_after_another_face_crosses_hers_the_face_left_must_earn_her_identity_again():
    ana, other, left = frontal_face(100, 20, 150, 80), frontal_face(140, 20, 190, 80), frontal_face(120, 20, 170, 80)
    script = [[ana]] * 5 + [[ana, other]] * 3 + [[left]] * 7
    eng = Engine(Gallery.from_people({"ana": np.array([[1.0, 0.0]])}), detector=ScriptedDetector(script),
                 recogniser=PlaceRecogniser())
    out = run(Judge(eng, window=20), len(script))
    assert shown(out)[:5] == [True] * 5
    assert [any(not d.redact for d in j.decisions if d.face.box[0] == 140) for j in out[5:8]] == [False] * 3
    assert shown(out)[8:] == [False] * 7  # the track went on, but whoever is left is not shown as Ana


def test_recognition_is_spent_on_faces_still_in_doubt():
    script = [[frontal_face(100, 20, 150, 80)] for _ in range(30)]
    eng, rec = recognising(script, [0.6] * 30)
    run(Judge(eng, window=8), 30)
    assert rec.asked == 2 + 28 // 5  # until confirmed, then every 5th frame


class LeftRecogniser(ScriptedRecogniser):
    """Ana is whoever stands left of x=150; every other face is clearly someone else."""

    def __init__(self, seconds: float = 0.0):
        super().__init__([])
        self.seconds = seconds  # what one face costs

    def embed(self, frame, faces):
        self.asked += len(faces)
        time.sleep(self.seconds * len(faces))
        return np.array([[0.6, 0.8] if f.box[0] < 150 else [0.1, 0.995] for f in faces], np.float32)


def test_faces_side_by_side_keep_their_identities():
    """Two faces a tenth of a face apart, walking together: closeness alone withdraws nothing."""
    script = [[frontal_face(100 + 2 * i, 20, 150 + 2 * i, 80), frontal_face(155 + 2 * i, 20, 205 + 2 * i, 80)]
              for i in range(20)]
    eng = Engine(Gallery.from_people({"ana": np.array([[1.0, 0.0]])}), detector=ScriptedDetector(script),
                 recogniser=LeftRecogniser())
    out = run(Judge(eng, window=10), 20)
    ana = [[d for d in j.decisions if d.face.box[0] < 150] for j in out]
    other = [[d for d in j.decisions if d.face.box[0] >= 155] for j in out]
    assert all(not d.redact for ds in ana for d in ds)
    assert all(d.redact for ds in other for d in ds)


class PoolingRecogniser(ScriptedRecogniser):
    """Views of Ana each off in another direction: one matches (0.55), the others do not (0.45), but
    their mean points at her."""

    def __init__(self):
        super().__init__([])
        self.views = [[0.55, 0.835], [0.45, -0.893], [0.45, 0.893], [0.45, -0.893]]

    def embed(self, frame, faces):
        self.asked += len(faces)
        return np.array([self.views.pop(0) for _ in faces], np.float32)


def test_pooled_views_confirm_what_one_match_alone_does_not():
    script = [[frontal_face(100, 20, 150, 80)] for _ in range(4)]
    pooled = Engine(Gallery.from_people({"ana": np.array([[1.0, 0.0]])}), detector=ScriptedDetector(list(script)),
                    recogniser=PoolingRecogniser())
    assert shown(run(Judge(pooled, window=8), 4)) == [True] * 4
    alone = Engine(Gallery.from_people({"ana": np.array([[1.0, 0.0]])}), EngineConfig(pool_views=99),
                   detector=ScriptedDetector(list(script)), recogniser=PoolingRecogniser())
    assert shown(run(Judge(alone, window=8), 4)) == [False] * 4


def test_in_a_crowd_the_recognition_deadline_goes_to_the_registered_person_first():
    crowd = [frontal_face(200 + 60 * k, 20, 250 + 60 * k, 80) for k in range(10)]
    script = [[*crowd, frontal_face(100, 20, 150, 80)] for _ in range(30)]
    eng = Engine(Gallery.from_people({"ana": np.array([[1.0, 0.0]])}), detector=ScriptedDetector(script),
                 recogniser=LeftRecogniser(seconds=0.01))
    judge = Judge(eng, window=30)
    out = []
    for i in range(30):
        judge.recognise_until = time.monotonic() + 0.025
        out.extend(judge.push(BLACK, i))
    out.extend(judge.flush())
    # About two faces a frame: new faces first, then, once she matched, she before the crowd's rechecks.
    assert 30 <= eng.recogniser.asked <= 3 * 30
    assert all(not d.redact for j in out for d in j.decisions if d.face.box[0] == 100)
    assert all(d.redact for j in out for d in j.decisions if d.face.box[0] >= 200)


# Real faces over a real background ---------------------------------------------------------------

def _crop(engine, path, height):
    from bystander.media.image import read_photo

    img = read_photo(path).bgr
    f = max(engine.detect(img), key=lambda f: f.width * f.height)
    x1, y1, x2, y2 = f.box
    w, h = x2 - x1, y2 - y1
    crop = img[max(0, int(y1 - 0.5 * h)):int(y2 + 0.3 * h), max(0, int(x1 - 0.3 * w)):int(x2 + 0.3 * w)]
    return cv2.resize(crop, (round(crop.shape[1] * height / crop.shape[0]), height), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def scene(media):
    from bystander.engine import Engine

    eng = Engine()
    background = cv2.resize(cv2.imread(str(MEDIA / "negatives" / "view.jpg")), (640, 360))
    return eng, background, _crop(eng, FR / "obama.jpg", 150), _crop(eng, FR / "biden.jpg", 150)


def _paste(frame, crop, x, y=110):
    h, w = crop.shape[:2]
    x0, x1 = max(0, x), min(frame.shape[1], x + w)
    if x1 > x0:
        frame[y:y + h, x0:x1] = crop[:, x0 - x:x1 - x]
    return (x0, y, x1, y + h)


def _judge_scene(engine, placements):
    """Frames of the background with crops pasted at the given places; the decisions per frame."""
    judge, out, truth = Judge(engine, window=30), [], []
    for i, faces in enumerate(placements):
        frame = faces[0].copy()
        truth.append({name: _paste(frame, crop, x) for name, crop, x in faces[1]})
        out.extend(judge.push(frame, i))
    out.extend(judge.flush())
    return out, truth


def _shown_over(decisions, box) -> bool:
    def inter(a, b):
        return max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))
    return any(not d.redact and inter(d.face.box, box) > 0.2 * (box[2] - box[0]) * (box[3] - box[1])
               for d in decisions)


def test_a_bystander_crossing_the_registered_person_never_takes_his_identity(scene, with_gallery):
    eng, background, obama, biden = scene
    engine = with_gallery({"obama": [FR / "obama.jpg"]})
    n = 60
    placements = [(background, [("obama", obama, 40 + 8 * i), ("biden", biden, 480 - 8 * i)]) for i in range(n)]
    out, truth = _judge_scene(engine, placements)
    assert not any(_shown_over(j.decisions, t["biden"]) for j, t in zip(out, truth))
    # He is shown while the two are apart (the crossing itself may stay redacted): in 46 of 46 such
    # frames here; two frames of margin for int8 results that shift with the CPU.
    apart = [i for i in range(n) if abs(16 * i - 440) >= max(obama.shape[1], biden.shape[1])]
    shown = sum(_shown_over(out[i].decisions, truth[i]["obama"]) for i in apart)
    assert len(apart) == 46 and shown >= len(apart) - 2, (shown, len(apart))


def test_a_bystander_taking_his_place_after_he_leaves_is_redacted(scene, with_gallery):
    eng, background, obama, biden = scene
    engine = with_gallery({"obama": [FR / "obama.jpg"]})
    placements = ([(background, [("obama", obama, 250)])] * 30 + [(background, [])] * 2
                  + [(background, [("biden", biden, 250)])] * 30)
    out, truth = _judge_scene(engine, placements)
    assert all(_shown_over(j.decisions, t["obama"]) for j, t in zip(out[:30], truth[:30]))
    assert not any(_shown_over(j.decisions, t["biden"]) for j, t in zip(out[32:], truth[32:]))
