"""The labelled set (gt/labelled_faces.gt.json: every face a person could see on 18 photos and video
frames, boxed by eye): the real commands leave none of them visible, judged by the shared judge's rule."""

import pytest

import labelled
from conftest import measure, run_cli


@pytest.fixture(scope="module")
def images(media, tmp_path_factory):
    folder = tmp_path_factory.mktemp("labelled") / "images"
    return labelled.materialise(labelled.load(), media, folder)


def _table(visible) -> str:
    return ", ".join(f"{cls} {left}/{total}" for cls, (left, total) in labelled.by_class(visible).items())


def test_photos_leave_no_labelled_face_visible(images, tmp_path):
    gt = labelled.load()
    out = tmp_path / "out"
    run_cli("photo", images[0].parent, "-o", out, "--everyone", "-q", check=True)
    visible = labelled.visible_in_photos(gt, images[0].parent, out)
    measure(f"labelled set, photo stage, faces left visible: {_table(visible)}")
    assert len(visible) == 84
    assert [f"{f.file}#{f.face}" for f, v in visible.items() if v] == []


def test_videos_leave_no_labelled_face_visible_in_any_frame(images, tmp_path):
    """Each image as a 10-frame video through ``bystander video``: a face visible in one frame counts."""
    gt = labelled.load()
    videos = labelled.still_videos(images, tmp_path / "videos")
    out = tmp_path / "out"
    run_cli("video", videos[0].parent, "-o", out, "--everyone", "-q", check=True)
    visible = labelled.visible_in_videos(gt, videos[0].parent, out)
    measure(f"labelled set, video path, faces left visible in some frame: {_table(visible)}")
    assert [f"{f.file}#{f.face}" for f, v in visible.items() if v] == []
