"""Attacks and bad input against a real ``bystander serve`` on 127.0.0.1, one test per way in:
first-run takeover, stream keys, sign-in, memory, malformed input, headers and file modes."""

from __future__ import annotations

import json
import re
import socket
import statistics
import sys
import threading
import time
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import FR
from test_server import PASSWORD, Server, _admin, _free_port


@pytest.fixture
def server(media, tmp_path):
    s = Server(tmp_path, "--max-upload-mb", "2", "--rtmp-listen", f"rtmp://127.0.0.1:{_free_port()}/live")
    yield s
    s.stop()


def _raw(server, request: bytes, then: bytes = b"", pause: float = 0.0) -> tuple[int, dict, bytes]:
    """One HTTP/1.1 exchange over a plain socket: ``request``, a pause, ``then``; (status, headers, body)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as s:
        s.sendall(request)
        if pause:
            time.sleep(pause)
        if then:
            s.sendall(then)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return int(lines[0].split()[1]), headers, body


def _post(path: str, body: bytes, content_type: str = "application/json", extra: str = "") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n{extra}\r\n").encode() + body


# 1. First run

def test_setup_needs_the_console_code_from_the_same_origin_and_happens_once(server):
    body = {"username": "admin", "password": PASSWORD, "setup_code": server.setup_code}
    # A page elsewhere posting text/plain (no preflight), code and all: refused.
    status, _, reply = _raw(server, _post("/api/setup", json.dumps(body).encode(), "text/plain",
                                          "Origin: http://evil.example\r\n"))
    assert status == 403 and "own page" in json.loads(reply)["error"]
    # DNS rebinding: the right origin for the browser, but a Host that is not this server's.
    status, _, reply = _raw(server, _post("/api/setup", json.dumps(body).encode()).replace(
        b"Host: 127.0.0.1", b"Host: evil.example"))
    assert status == 403 and "evil.example" in json.loads(reply)["error"]
    for code in (None, "", "wrong-code"):
        attempt = {k: v for k, v in body.items() if k != "setup_code"} | ({} if code is None else {"setup_code": code})
        status, reply = server.request("POST", "/api/setup", attempt)
        assert status == 403 and "setup code" in reply["error"]
    assert server.request("GET", "/api/setup")[1] == {"needed": True}

    # Two slow setups, both past the "already set up?" check before either body arrives: one wins.
    results = []

    def slow(user: str) -> None:
        data = json.dumps({"username": user, "password": PASSWORD, "setup_code": server.setup_code}).encode()
        request = _post("/api/setup", data)
        results.append((user, _raw(server, request[:-len(data)], data, pause=1.0)[0]))

    threads = [threading.Thread(target=slow, args=(user,)) for user in ("first", "second")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(code for _, code in results) == [201, 409], results
    winner = next(user for user, code in results if code == 201)
    loser = next(user for user, code in results if code == 409)
    assert server.request("POST", "/api/login", {"username": winner, "password": PASSWORD})[0] == 200
    assert server.request("POST", "/api/login", {"username": loser, "password": PASSWORD})[0] == 401
    assert server.setup_code not in server.request("GET", "/")[1].decode()


# 2. Stream keys

KEY_SHAPES = [  # (url, key field) as a user might type them; each names its key
    ("rtmp://127.0.0.1:{port}/live/trailing-slash-key-1/", ""),
    ("rtmp://127.0.0.1:{port}/live", "slashed/key-2"),
    ("rtmp://127.0.0.1:{port}/live/", "ends-in-slash-key-3/"),
    ("rtmp://127.0.0.1:{port}/live/plain-key-4", ""),
]


def test_stream_keys_are_stored_apart_and_never_leave_in_full(server, tmp_path):
    from live_harness import build_looped_input, publish

    from bystander.live.secret import mask_url

    token = _admin(server)
    dead = _free_port()  # nothing listens there: the relay retries and logs each destination
    keys = []
    for url, key in KEY_SHAPES:
        status, reply = server.request("POST", "/api/live/destinations",
                                       {"name": "d", "url": url.format(port=dead), "key": key}, token=token)
        assert status == 201, reply
        keys.append(re.search(r"key-\d", url + key).group(0))
    status, reply = server.request("POST", "/api/live/destinations",
                                   {"name": "bare", "url": f"rtmp://127.0.0.1:{dead}/only-a-key-5"}, token=token)
    assert status == 400 and "stream key" in reply["error"]

    stored = json.loads((tmp_path / "live.json").read_text())["destinations"]
    assert all(d["key"] and "key-" not in d["url"] for d in stored)  # the key apart from its URL
    status, ingest = server.request("POST", "/api/live/key", token=token)
    src = tmp_path / "publish.flv"
    build_looped_input(FR / "short_hamilton_clip.mp4", src, 1)
    status, started = server.request("POST", "/api/live/start", token=token)
    assert status == 202, started
    live = server.request("GET", "/api/live", token=token)[1]
    pub = publish(src, f"{live['ingest']['rtmp_url']}/{ingest['stream_key']}")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (live.get("status") or {}).get("frames"):
        time.sleep(0.5)
        live = server.request("GET", "/api/live", token=token)[1]
    time.sleep(3)  # the destinations' connection attempts fail and are logged
    live = server.request("GET", "/api/live", token=token)[1]
    pub.kill()
    pub.wait()
    server.request("POST", "/api/live/stop", token=token)
    assert live["status"]["destinations"], live
    page = server.request("GET", "/")[1].decode()
    seen = json.dumps([started, live, page]) + server.log.read_text()
    for key in keys + [ingest["stream_key"]]:
        assert key not in seen
    for shape in ["rtmp://h/live/KEY/", "rtmp://h/KEY", "rtmp://h/live/a/KEY", "rtmp://u:KEY@h/live/x?KEY"]:
        assert "KEY" not in mask_url(shape)  # how `bystander live` names destinations in --stats-json too


# 3. Sign-in

def test_sign_in_is_throttled_hashed_off_the_loop_and_sessions_end(server):
    import hashlib

    token = _admin(server)
    start = time.perf_counter()
    hashlib.scrypt(b"x", salt=bytes(16), n=2**14, r=8, p=1)
    one_hash = time.perf_counter() - start

    # While five wrong passwords are hashed, /healthz answers as if nothing happened.
    latencies = []
    stop = threading.Event()

    def probe() -> None:
        while not stop.is_set():
            t = time.perf_counter()
            server.request("GET", "/healthz")
            latencies.append(time.perf_counter() - t)

    prober = threading.Thread(target=probe)
    prober.start()
    with ThreadPoolExecutor(5) as pool:
        codes = list(pool.map(lambda _: server.request("POST", "/api/login", {"username": "admin",
                                                                               "password": "wrong-password"})[0],
                              range(5)))
    stop.set()
    prober.join()
    assert codes == [401] * 5
    assert statistics.median(latencies) < one_hash / 3, (statistics.median(latencies), one_hash)

    # A sixth try, even with the right password, waits.
    status, reply = server.request("POST", "/api/login", {"username": "admin", "password": PASSWORD})
    assert status == 429 and "try again" in reply["error"]
    wait = int(server.last_headers["Retry-After"])
    assert 1 <= wait <= 5
    time.sleep(wait + 0.2)
    status, reply = server.request("POST", "/api/login", {"username": "admin", "password": PASSWORD})
    assert status == 200
    cookie = server.last_headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    session = re.match(r"bystander_session=([^;]+)", cookie).group(1)
    assert session == reply["token"]

    # Media by the cookie, never by a token in the URL; changes need the bearer header.
    item = _photo(server, reply["token"])
    as_cookie = {"Cookie": f"bystander_session={session}"}
    assert server.request("GET", item["url"], headers=as_cookie)[0] == 200
    assert server.request("GET", f"{item['url']}?token={session}")[0] == 401
    assert server.request("DELETE", f"/api/gallery/{item['id']}", headers=as_cookie)[0] == 401

    # Sign-out ends the session on the server.
    assert server.request("POST", "/api/logout", token=session)[0] == 204
    assert server.request("GET", "/api/people", token=session)[0] == 401
    assert server.request("GET", item["url"], headers=as_cookie)[0] == 401
    assert server.request("GET", "/api/people", token=token)[0] == 200  # other sessions live on


def test_sessions_expire(media, tmp_path):
    s = Server(tmp_path, "--session-ttl", "2", "--rtmp-listen", f"rtmp://127.0.0.1:{_free_port()}/live")
    try:
        token = _admin(s)
        assert s.request("GET", "/api/people", token=token)[0] == 200
        time.sleep(2.5)
        status, reply = s.request("GET", "/api/people", token=token)
        assert status == 401 and "expired" in reply["error"]
    finally:
        s.stop()


def _photo(server, token: str, filename: str = "obama.jpg") -> dict:
    status, item = server.request("POST", "/api/photos", token=token,
                                  files={"file": (filename, (FR / "obama.jpg").read_bytes())})
    assert status == 201, item
    return item


# 4. Memory

def _peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024


def test_big_bodies_are_refused_before_they_are_read(media, tmp_path):
    s = Server(tmp_path, "--max-video-pixels", "100000", "--rtmp-listen", f"rtmp://127.0.0.1:{_free_port()}/live")
    try:
        token = _admin(s)
        before = _peak_rss_mb(s.proc.pid)
        # Unauthenticated: a declared 300 MB sign-in, a chunked one that never ends, a 300 MB upload.
        status, _, reply = _raw(s, (b"POST /api/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
                                    b"\r\nContent-Length: 300000000\r\nConnection: close\r\n\r\n{"))
        assert status == 413 and "too large" in json.loads(reply)["error"]
        with socket.create_connection(("127.0.0.1", s.port)) as sock:
            sock.sendall(b"POST /api/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                         b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
            chunk = b"%x\r\n%s\r\n" % (1 << 20, b" " * (1 << 20))
            try:
                for _ in range(100):
                    sock.sendall(chunk)
            except OSError:
                pass  # the server answered and closed early: what it should do
            assert b" 413 " in sock.recv(4096)
        status, _, reply = _raw(s, _post("/api/photos", b"", "multipart/form-data; boundary=x").replace(
            b"Content-Length: 0", b"Content-Length: 300000000"))
        assert status == 401
        assert _peak_rss_mb(s.proc.pid) - before < 50

        # A video whose frames exceed --max-video-pixels is refused at once, and not kept.
        status, reply = s.request("POST", "/api/videos", token=token,
                                  files={"file": ("clip.mp4", (FR / "short_hamilton_clip.mp4").read_bytes())})
        assert status == 413 and re.search(r"clip\.mp4: frames of \d+x\d+ .* 100000 pixels", reply["error"])
        assert not list((tmp_path / "uploads").iterdir())
    finally:
        s.stop()


# 5. Malformed input

def test_malformed_input_gets_a_4xx_naming_it_and_leaves_nothing(server, tmp_path):
    token = _admin(server)
    auth = f"Authorization: Bearer {token}\r\n"
    server.request("POST", "/api/live/destinations",
                   {"name": "d", "url": f"rtmp://127.0.0.1:{_free_port()}/live", "key": "k"}, token=token)
    offers = [b"", b"garbage", b"v=0\r\nm=video x\r\n",
              b"v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
              b"a=ice-ufrag:x\r\na=ice-pwd:y\r\na=fingerprint:sha-256 zz\r\na=rtpmap:96 VP8/90000\r\n"]
    for offer in offers:
        status, _, reply = _raw(server, _post("/api/live/whip", offer, "application/sdp", auth))
        assert status == 400 and "offer could not be used" in json.loads(reply)["error"], reply
    assert server.request("GET", "/api/live", token=token)[1]["running"] is False  # nothing left live

    photo = (FR / "obama.jpg").read_bytes()
    body = b"--right\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"\r\n\r\n" + photo + b"\r\n--right--\r\n"
    status, _, reply = _raw(server, _post("/api/photos", body, "multipart/form-data; boundary=wrong", auth))
    assert status == 400 and "multipart" in json.loads(reply)["error"]

    status, _, reply = _raw(server, _post("/api/login", b'{"username": "\\ud800", "password": "whatever1"}'))
    assert status == 400 and "username" in json.loads(reply)["error"]

    # Metadata PyAV cannot decode as UTF-8: refused at once, or read (damaged tags replaced) and
    # redacted; either way the unredacted upload is gone when the request or its job ends.
    clip = (FR / "short_hamilton_clip.mp4").read_bytes()
    at = clip.rfind(b"Lavf")
    broken = clip[:at] + b"\xff\xfe\xfd\xfc" + clip[at + 4:]
    status, reply = server.request("POST", "/api/videos", token=token, files={"file": ("meta.mp4", broken)})
    assert status in (202, 415), reply
    if status == 415:
        assert "meta.mp4" in reply["error"]
    else:
        deadline = time.monotonic() + 120
        while reply["state"] not in ("done", "failed") and time.monotonic() < deadline:
            time.sleep(0.5)
            reply = server.request("GET", f"/api/jobs/{reply['id']}", token=token)[1]
        assert reply["state"] == "done", reply

    # A name with CR/LF and a quote (as filename*, how a client sends what a header cannot hold).
    evil = 'a"b\r\nX-Evil: 1.jpg'
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename*=UTF-8''{urllib.parse.quote(evil)}\r\n\r\n").encode() + photo + f"\r\n--{boundary}--\r\n".encode()
    status, _, reply = _raw(server, _post("/api/photos", body, f"multipart/form-data; boundary={boundary}", auth))
    assert status == 201, reply
    item = json.loads(reply)
    status, headers, _ = _raw(server, f"GET {item['url']}?download=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}"
                                      f"Connection: close\r\n\r\n".encode())
    assert status == 200 and "x-evil" not in headers
    [disposition] = headers["content-disposition"]
    assert re.fullmatch(r'attachment; filename="[^"\\]*"; filename\*=UTF-8\'\'[A-Za-z0-9%._~-]+', disposition)

    assert not list((tmp_path / "uploads").iterdir())  # no upload, redacted or not, left behind
    log = server.log.read_text()
    assert "Traceback" not in log and token not in log


# 6. Headers and file modes

def test_security_headers_and_a_private_data_folder(media, tmp_path):
    (tmp_path / "registry.sqlite3").touch(mode=0o644)  # as an older version left it
    (tmp_path / "registry.sqlite3").chmod(0o644)
    tmp_path.chmod(0o755)
    s = Server(tmp_path, "--rtmp-listen", f"rtmp://127.0.0.1:{_free_port()}/live")
    try:
        token = _admin(s)
        for path in ("/", "/static/app.js", "/api/people", "/api/nothing-here"):
            s.request("GET", path, token=token)
            h = s.last_headers
            assert "frame-ancestors 'none'" in h["Content-Security-Policy"] and "script-src 'self'" in h[
                "Content-Security-Policy"], path
            assert h["X-Content-Type-Options"] == "nosniff" and h["X-Frame-Options"] == "DENY"
            assert h["Referrer-Policy"] == "no-referrer"
        assert tmp_path.stat().st_mode & 0o777 == 0o700
        for name in ("registry.sqlite3", "admin.json", "live.json"):
            assert (tmp_path / name).stat().st_mode & 0o777 == 0o600, name
        assert (tmp_path / "gallery").stat().st_mode & 0o077 == 0
    finally:
        s.stop()


# 7. Traffic nobody asked for

# Starts bystander with an audit hook that notes every name looked up and every address connected or
# sent to by any of its Python code (aiortc's ICE and STUN included), one JSON line each.
_WATCHED = """
import json, runpy, sys
log = open(sys.argv.pop(1), "a", buffering=1)
EVENTS = {"socket.connect": 1, "socket.sendto": 1, "socket.sendmsg": 1, "socket.getaddrinfo": 0,
          "socket.gethostbyname": 0, "socket.gethostbyname_ex": 0}
def watch(event, args):
    if event in EVENTS:
        where = args[EVENTS[event]]
        if not isinstance(where, (str, bytes)) or event.endswith(("getaddrinfo", "gethostbyname", "_ex")):
            log.write(json.dumps([event, str(where[0] if isinstance(where, tuple) else where)]) + "\\n")
sys.addaudithook(watch)
sys.argv[0] = "bystander"
runpy.run_module("bystander", run_name="__main__", alter_sys=True)
"""


def _this_machine() -> set[str]:
    """Every address of this machine's own interfaces (where ICE's host candidates are)."""
    import ifaddr

    return {str(ip.ip[0] if isinstance(ip.ip, tuple) else ip.ip).split("%")[0]
            for adapter in ifaddr.get_adapters() for ip in adapter.ips}


def test_a_live_session_from_the_browser_contacts_nobody_it_was_not_told_to(media, tmp_path):
    """Sign-in, a registration, a photo and three seconds live over WHIP to a destination on this
    machine: every connection, datagram and name lookup the server makes stays on this machine."""
    from live_harness import Destination
    from whip_sender import publish

    seen = tmp_path / "outbound.jsonl"
    s = Server(tmp_path, "--rtmp-listen", f"rtmp://127.0.0.1:{_free_port()}/live",
               python=[sys.executable, "-c", _WATCHED, str(seen)])
    try:
        with Destination(tmp_path / "rec") as dst:
            token = _admin(s)
            assert s.request("POST", "/api/people", token=token, fields={"name": "lin"},
                             files={"shot": ("lin.png", (FR / "lin-manuel-miranda.png").read_bytes())})[0] == 201
            assert s.request("POST", "/api/photos", token=token,
                             files={"file": ("two.jpg", (FR / "two_people.jpg").read_bytes())})[0] == 201
            assert s.request("POST", "/api/live/destinations",
                             {"name": "stand-in", "url": dst.url("app"), "key": "k"}, token=token)[0] == 201
            publish(s.url, token, seconds=3)
            time.sleep(1)
            assert dst.recordings(), s.log.read_text()[-2000:]
    finally:
        s.stop()
    events = [json.loads(line) for line in seen.read_text().splitlines()]
    mine = _this_machine() | {"localhost", "0.0.0.0", "::"}
    assert any(kind == "socket.sendto" for kind, _ in events)  # the watch saw the WebRTC datagrams
    elsewhere = [(kind, where) for kind, where in events
                 if not (where in mine or where.startswith("127.") or where.startswith("::ffff:127."))]
    assert elsewhere == [], elsewhere

