"""Live mode in the web app: destinations kept server-side, and the same relay as ``bystander live``
run for the streamer's own RTMP ingest (OBS, PRISM, Larix).

A destination's stream key is stored apart from its URL, in a 0600 file in the home folder, and
only ever sent back masked. The ingest key and the WHIP token are generated here; the page shows
them masked, and in full only when the signed-in user asks (to copy them into OBS or a phone app).
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import os
import secrets
import threading
from pathlib import Path

import cv2

from ..engine import Engine
from ..live.ingest import ListenAddress, RtmpIngest
from ..live.relay import Relay, RelayOptions
from ..live.secret import join_key, mask_url
from ..live.source import RtmpSource

log = logging.getLogger(__name__)


class LiveSettings:
    def __init__(self, path: Path):
        self.path = path
        if not path.exists():
            self._save({"destinations": [], "ingest_key": secrets.token_urlsafe(12)})

    def _load(self) -> dict:
        return json.loads(self.path.read_text())

    def _save(self, data: dict) -> None:
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f)
        os.replace(tmp, self.path)

    @property
    def ingest_key(self) -> str:
        return self._load()["ingest_key"]

    @property
    def whip_token(self) -> str:
        """The bearer token a WHIP encoder publishes with (made on first use by older settings files)."""
        data = self._load()
        if "whip_token" not in data:
            data["whip_token"] = secrets.token_urlsafe(18)
            self._save(data)
        return data["whip_token"]

    def whip_token_ok(self, token: str) -> bool:
        return hmac.compare_digest(token.encode(), self.whip_token.encode())

    def new_whip_token(self) -> str:
        data = self._load()
        data["whip_token"] = secrets.token_urlsafe(18)
        self._save(data)
        return data["whip_token"]

    @property
    def record(self) -> bool:
        """Whether going live also records the redacted stream into the gallery."""
        return bool(self._load().get("record", False))

    @record.setter
    def record(self, value: bool) -> None:
        data = self._load()
        data["record"] = bool(value)
        self._save(data)

    def new_ingest_key(self) -> str:
        data = self._load()
        data["ingest_key"] = secrets.token_urlsafe(12)
        self._save(data)
        return data["ingest_key"]

    def destinations(self) -> list[dict]:
        return self._load()["destinations"]

    def urls(self) -> list[str]:
        """Where the relay publishes: each destination's URL with its key."""
        return [join_key(d["url"], d.get("key", "")) for d in self.destinations()]

    def secrets(self) -> list[str]:
        """What no log line may show: the ingest key, every destination key and full URL."""
        data = self._load()
        return [data["ingest_key"], self.whip_token, *(d.get("key", "") for d in data["destinations"]), *self.urls()]

    def add_destination(self, name: str, url: str, key: str) -> dict:
        data = self._load()
        d = {"id": secrets.token_hex(6), "name": name, "url": url, "key": key}
        data["destinations"].append(d)
        self._save(data)
        return d

    def remove_destination(self, dest_id: str) -> bool:
        data = self._load()
        kept = [d for d in data["destinations"] if d["id"] != dest_id]
        if len(kept) == len(data["destinations"]):
            return False
        data["destinations"] = kept
        self._save(data)
        return True

    @staticmethod
    def public(d: dict) -> dict:
        return {"id": d["id"], "name": d["name"], "url": mask_url(join_key(d["url"], d.get("key", "")))}


def split_destination(url: str, key: str) -> tuple[str, str]:
    """(URL, stream key) of a destination as the user gave it: the key in its own field, or after
    the RTMP application in the URL (``rtmp://host/app/KEY``). Raises ValueError naming the problem."""
    if any(ord(c) < 32 or c == "\x7f" or c.isspace() for c in url + key):
        raise ValueError("the URL and stream key may not contain spaces or control characters")
    if not url.startswith(("rtmp://", "rtmps://")):
        raise ValueError("a destination needs an rtmp:// or rtmps:// URL")
    if not key:
        scheme, _, rest = url.partition("://")
        host, _, path = rest.partition("/")
        app, _, key = path.partition("/")
        url = f"{scheme}://{host}/{app}"
        if not app or not key.strip("/"):
            raise ValueError("a destination needs its stream key: in the key field, or after the application "
                             "in the URL (rtmp://host/app/KEY)")
    return url, key


class LiveRunner:
    """At most one relay at a time, on its own thread; its latest status kept for the page."""

    def __init__(self):
        self._thread: threading.Thread | None = None
        self._relay: Relay | None = None
        self.status: dict | None = None
        self.error: str | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, engine: Engine, source, urls: list[str], on_end=None, record: Path | None = None) -> None:
        """Relay ``source`` (an ``RtmpSource`` or the browser's ``WebRtcSource``) to ``urls``, and into
        the file ``record`` when given."""
        self.status, self.error = None, None
        relay = Relay(engine, source, RelayOptions(destinations=urls, record=record), on_status=self._on_status)
        self._relay = relay

        def run() -> None:
            try:
                self.status = relay.run()
            except Exception as exc:  # shown on the page
                self.error = str(exc)
                log.warning("live relay stopped: %s", exc)
            finally:
                if on_end is not None:
                    on_end()

        self._thread = threading.Thread(target=run, name="bystander-live", daemon=True)
        self._thread.start()

    def start_rtmp(self, engine: Engine, listen: ListenAddress, key: str, urls: list[str], on_end=None,
                   record: Path | None = None) -> None:
        resources = contextlib.ExitStack()
        ingest = resources.enter_context(RtmpIngest(listen, key))  # nginx is up (or this raises) before we answer
        if on_end is not None:
            resources.callback(on_end)
        self.start(engine, RtmpSource(ingest, grace=60.0), urls, on_end=resources.close, record=record)

    def _on_status(self, s: dict) -> None:
        self.status = s

    def preview_jpeg(self, width: int = 640) -> bytes | None:
        """The latest redacted frame as a small JPEG: what the destinations are receiving."""
        frame = self._relay.last_output if self._relay is not None and self.running else None
        if frame is None:
            return None
        h, w = frame.shape[:2]
        small = cv2.resize(frame, (width, max(2, round(h * width / w))), interpolation=cv2.INTER_AREA)
        ok, data = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 80])
        return data.tobytes() if ok else None

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the relay; its outputs are flushed and closed."""
        if self._relay is not None:
            self._relay.stop()
        if self._thread is not None:
            self._thread.join(timeout)
