"""Where OpenVINO keeps the models it compiled, so that a process loads them instead of compiling.

Compiling the detectors and the recogniser costs seconds in every process; OpenVINO's own model
cache (``CACHE_DIR``) keeps the result. Its blobs are keyed by the model and the compile settings;
the folder adds the runtime's version and the CPU's name and instruction sets, so that an upgraded
package or another CPU (an AVX2-only machine beside an AVX-512 one) never loads another's build.
The graphs handed to OpenVINO (the bundled models repaired and reshaped, SFace's weights dequantised)
are kept too, as OpenVINO's own files. OpenVINO loads a blob without checking its contents (a damaged
one ran and found twenty faces in a photo of three), so every blob's digest is kept beside it, and a
blob that does not match is removed before OpenVINO sees the folder. The cache is an optimisation
only: where it cannot be written or read, models are compiled as before.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import threading
from pathlib import Path
from typing import Callable

from . import cpu

ENV = "BYSTANDER_CACHE"  # overrides the folder; empty: no cache


def base_folder() -> Path | None:
    if ENV in os.environ:
        return Path(os.environ[ENV]) if os.environ[ENV] else None
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "bystander"


def folder(runtime_version: str) -> Path | None:
    """The cache folder for this runtime on this CPU, created; None where it cannot be."""
    base = base_folder()
    if base is None:
        return None
    key = hashlib.sha256(f"{runtime_version}|{platform.machine()}|{cpu.description()}".encode()).hexdigest()[:16]
    path = base / "openvino" / key
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return path if os.access(path, os.W_OK | os.X_OK) else None


MANIFEST = "blobs.json"  # file name -> sha256, size and modification time of each blob and graph file


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _entry(path: Path) -> dict:
    st = path.stat()
    return {"sha256": _digest(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _intact(path: Path, entry) -> bool:
    """Whether ``path`` is the file recorded as ``entry``. One whose size and modification time are as
    recorded was not written since, and is not hashed again (hashing every blob cost a photo command
    a tenth of its time); damage that changes neither, a bit flipped in place without a write, would
    pass, as it would for a build tool's timestamps."""
    if not isinstance(entry, dict):
        return False
    st = path.stat()
    if st.st_size == entry.get("size") and st.st_mtime_ns == entry.get("mtime_ns"):
        return True
    return _digest(path) == entry.get("sha256")


def _manifest(folder: Path) -> dict[str, dict]:
    try:
        data = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


# Models load on several threads at once (the photo stage's CenterFace beside YuNet): the manifest's
# read-modify-write, a folder's first check and a compilation that writes a blob must not interleave
# (``record`` would take another thread's blob, half written, for its own).
lock = threading.RLock()
_verified: set[Path] = set()  # folders checked by this process: what it wrote since, it recorded
_removed: set[Path] = set()  # blobs this process found damaged and removed: OpenVINO writes them anew


def verify(folder: Path) -> bool:
    """Remove every blob that is not as recorded, once a process. False: one could not be removed,
    and the folder must not be used."""
    with lock:
        if folder in _verified:
            return True
        known = _manifest(folder)
        for blob in folder.glob("*.blob"):
            try:
                if not _intact(blob, known.get(blob.name)):
                    blob.unlink()
                    _removed.add(blob)
            except OSError:
                return False
        _verified.add(folder)
        return True


def rebuilding(folder: Path) -> bool:
    """Whether this process removed a damaged blob from ``folder`` (OpenVINO then writes it anew)."""
    with lock:
        return any(b.parent == folder for b in _removed)


def record(folder: Path) -> None:
    """Record the blobs OpenVINO has just written."""
    with lock:
        known = _manifest(folder)
        try:
            fresh = {b.name: _entry(b) for b in folder.glob("*.blob") if b.name not in known or b in _removed}
        except OSError:
            return
        _remember(folder, fresh)


def graph(folder: Path, key: str, save: Callable[[Path], None]) -> Path | None:
    """``key``.xml (with its .bin): the model as OpenVINO reads it, repaired and reshaped, written by
    ``save`` (the path without its suffix) the first time. Compiling from this file, OpenVINO finds its
    blob without reading the graph, and nothing imports onnx. None where it cannot be written."""
    with lock:
        files = [folder / f"{key}.xml", folder / f"{key}.bin"]
        known = _manifest(folder)
        try:
            if all(_intact(f, known.get(f.name)) for f in files):
                return files[0]
        except OSError:
            pass
        tmp = f".{key}.{os.getpid()}"
        written = [folder / f"{tmp}{f.suffix}" for f in files]
        try:
            save(folder / tmp)
            entries = {f.name: _entry(w) for f, w in zip(files, written)}
            for f, w in zip(files, written):
                os.replace(w, f)
        except OSError:
            for w in written:
                with contextlib.suppress(OSError):
                    w.unlink(missing_ok=True)
            return None
        _remember(folder, entries)
        return files[0]


def _remember(folder: Path, entries: dict[str, dict]) -> None:
    with lock:
        if not entries:
            return
        known = {**_manifest(folder), **entries}
        try:
            tmp = folder / f".{MANIFEST}.{os.getpid()}"
            tmp.write_text(json.dumps(known))
            os.replace(tmp, folder / MANIFEST)
        except OSError:
            pass
