"""The RTMP ingest: nginx-rtmp listens, we check the stream key and pull the stream locally.

The streamer publishes to ``rtmp://HOST:PORT/APP`` with stream key KEY. nginx asks
our ``on_publish`` hook; a right key is answered with a redirect that renames the
stream to a private name known only to this process, a wrong one with 403 (nginx
then refuses the publisher). The relay plays the private name from 127.0.0.1, so
the key never appears in a URL we open.

The relay's player waits on the private name before any publisher comes, and a right key is
answered only once nginx shows it there (within ``PLAYER_WAIT``): a player that joined after
the publisher would start at its next keyframe, seconds into the stream. nginx ends that play
when the publisher leaves (``play_restart``), and the relay attaches a new one for its return.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from ..errors import BystanderError
from .nginx import Application, NginxRtmp

log = logging.getLogger(__name__)

PLAYER_WAIT = 3.0  # s the key check holds a publisher for the relay's player to be attached


@dataclass(frozen=True)
class ListenAddress:
    host: str
    port: int
    app: str

    @classmethod
    def parse(cls, url: str) -> "ListenAddress":
        parts = urlsplit(url)
        app = parts.path.strip("/")
        if parts.scheme != "rtmp" or not parts.hostname or not app or "/" in app:
            raise BystanderError(f"--listen {url}: expected rtmp://HOST:PORT/APP, e.g. rtmp://0.0.0.0:1935/live")
        return cls(parts.hostname, parts.port or 1935, app)


class _KeyCheck(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, key: str, private_name: str, player_attached):
        super().__init__(("127.0.0.1", 0), _Hook)
        self.key = key
        self.private_name = private_name
        self.player_attached = player_attached
        self.publishing = threading.Event()
        self.refused = 0
        self.accepted = 0
        self.last_accepted = float("-inf")  # time.monotonic() of the latest
        self.lock = threading.Lock()


class _Hook(BaseHTTPRequestHandler):
    server: _KeyCheck

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode("latin-1"))
        name = form.get("name", [""])[0]
        s = self.server
        if self.path == "/publish":
            if hmac.compare_digest(name.encode(), s.key.encode()):
                self._await_player()
                log.info("publisher accepted")
                self.send_response(302)
                self.send_header("Location", s.private_name)
                with s.lock:
                    s.accepted += 1
                    s.last_accepted = time.monotonic()
                s.publishing.set()
            else:
                with s.lock:
                    s.refused += 1
                log.warning("publisher refused: wrong stream key")
                self.send_response(403)
        else:  # /publish_done
            log.info("publisher left")
            s.publishing.clear()
            self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _await_player(self) -> None:
        deadline = time.monotonic() + PLAYER_WAIT
        while time.monotonic() < deadline:
            try:
                if self.server.player_attached():
                    return
            except Exception as exc:  # nginx's control socket unreadable: accept without waiting
                log.debug("player check failed: %s", exc)
                return
            time.sleep(0.02)
        log.info("no relay player attached within %.0f s; accepting the publisher anyway", PLAYER_WAIT)

    def log_message(self, *args) -> None:  # the request line would carry the key
        pass


class RtmpIngest:
    """``with RtmpIngest(listen, key) as ingest: url = ingest.wait(timeout)``."""

    def __init__(self, listen: ListenAddress, key: str):
        if not key:
            raise BystanderError("--key must not be empty")
        self.listen = listen
        self._hook = _KeyCheck(key, "in-" + secrets.token_hex(8),
                               lambda: self.server.players(self.listen.app, self._hook.private_name) > 0)
        hook = f"http://127.0.0.1:{self._hook.server_address[1]}"
        self.server = NginxRtmp([Application(listen.app, f"""
            on_publish {hook}/publish;
            on_publish_done {hook}/publish_done;
            notify_method post;
            idle_streams on;
            play_restart on;
            allow play 127.0.0.1;
            deny play all;
            """)], port=listen.port, host=listen.host)
        self._thread = threading.Thread(target=self._hook.serve_forever, name="bystander-keycheck", daemon=True)

    @property
    def publishing(self) -> bool:
        return self._hook.publishing.is_set()

    @property
    def refused(self) -> int:
        return self._hook.refused

    @property
    def accepted(self) -> int:
        """How many publishers with the right key have been let in."""
        return self._hook.accepted

    @property
    def last_accepted(self) -> float:
        """time.monotonic() when the latest publisher was let in (-inf: none yet)."""
        return self._hook.last_accepted

    def drop_player(self) -> None:
        """End the relay's play of the private stream (it is waiting, or reading)."""
        self.server.drop_players(self.listen.app, self._hook.private_name)

    @property
    def pull_url(self) -> str:
        return self.server.url(self.listen.app, self._hook.private_name)

    def wait(self, timeout: float | None = None) -> bool:
        """True once a publisher with the right key is on (within ``timeout`` seconds)."""
        return self._hook.publishing.wait(timeout)

    def __enter__(self) -> "RtmpIngest":
        self._thread.start()
        try:
            self.server.start()
        except BaseException:
            self._hook.shutdown()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.server.__exit__(*exc)
        self._hook.shutdown()
        self._hook.server_close()
