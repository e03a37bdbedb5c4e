"""The compiled-model cache: a second run loads what the first compiled, and damage or a folder that
cannot be written changes nothing a user sees."""

import os

import pytest

from bystander.engine import model_cache
from bystander.engine.runtime import PREPARING, openvino_available
from conftest import FR, run_cli, run_cli_tty

pytestmark = pytest.mark.skipif(not openvino_available(), reason="the cache is OpenVINO's")

PHOTO = FR / "two_people.jpg"


def _photo(out, cache):
    return run_cli("photo", PHOTO, "-o", out, "--everyone", env={model_cache.ENV: str(cache)})


def test_the_first_run_says_it_prepares_the_models_and_the_next_loads_them(tmp_path, monkeypatch):
    monkeypatch.setenv(model_cache.ENV, str(tmp_path / "cache"))
    rc1, first = run_cli_tty("photo", PHOTO, "-o", tmp_path / "a.jpg", "--everyone")
    rc2, second = run_cli_tty("photo", PHOTO, "-o", tmp_path / "b.jpg", "--everyone")
    assert rc1 == rc2 == 0, (first, second)
    assert first.count(PREPARING) == 1 and PREPARING not in second
    assert list((tmp_path / "cache").glob("openvino/*/*.blob"))
    assert (tmp_path / "a.jpg").read_bytes() == (tmp_path / "b.jpg").read_bytes()


def test_a_damaged_cache_is_compiled_again_without_a_word(tmp_path):
    cache = tmp_path / "cache"
    first = _photo(tmp_path / "a.jpg", cache)
    assert first.returncode == 0, first.stderr
    blobs = sorted(cache.glob("openvino/*/*.blob"))
    graphs = sorted([*cache.glob("openvino/*/*.xml"), *cache.glob("openvino/*/*.bin")])
    assert blobs and graphs
    for blob in blobs + graphs:  # OpenVINO would load these and run them: a photo of three showed twenty faces
        os.chmod(blob, 0o644)
        data = bytearray(blob.read_bytes())
        data[len(data) // 2:len(data) // 2 + 4096] = b"\xff" * 4096
        blob.write_bytes(bytes(data))
    again = _photo(tmp_path / "b.jpg", cache)
    assert again.returncode == 0 and again.stderr == first.stderr
    assert (tmp_path / "a.jpg").read_bytes() == (tmp_path / "b.jpg").read_bytes()
    folder = blobs[0].parent
    assert model_cache.verify(folder) and sorted(folder.glob("*.blob")) == blobs  # rebuilt and recorded
    # The graph files were written again: as recorded, each is used without being made anew.
    assert all(model_cache.graph(folder, g.stem, lambda path: None) == g.with_suffix(".xml") for g in graphs)


def test_a_cache_folder_that_cannot_be_made_changes_nothing(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    plain = _photo(tmp_path / "a.jpg", tmp_path / "cache")
    blocked = _photo(tmp_path / "b.jpg", blocker / "cache")
    assert plain.returncode == blocked.returncode == 0 and blocked.stderr == plain.stderr
    assert (tmp_path / "a.jpg").read_bytes() == (tmp_path / "b.jpg").read_bytes()


def test_another_runtime_version_never_shares_a_folder(tmp_path, monkeypatch):
    monkeypatch.setenv(model_cache.ENV, str(tmp_path))
    assert model_cache.folder("2026.4.1") != model_cache.folder("2026.5.0")
    monkeypatch.setenv(model_cache.ENV, "")
    assert model_cache.folder("2026.4.1") is None
