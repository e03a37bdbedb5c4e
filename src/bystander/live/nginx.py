"""A private nginx-rtmp server: the ingest that streamers publish to.

nginx (with Debian's ``libnginx-mod-rtmp``) speaks RTMP to OBS, PRISM and Larix
as they expect, handles their reconnects and asks us over HTTP (``on_publish``)
whether a stream key is right. It runs as a child process with a config in a
temporary folder, logs nothing about stream names, and stops with us.

Idle and slow connections cannot keep a streamer out: a connection that has not finished its
handshake within ``HANDSHAKE_TIMEOUT`` is closed, one that stops answering pings is dropped, and
there is room for ``MAX_CONNECTIONS`` at once. nginx's statistics and control pages listen on a
Unix socket in the private folder, so that only this process can see stream names or drop a
player.
"""

from __future__ import annotations

import http.client
import resource
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from ..errors import BystanderError

MODULE_PATHS = (
    Path("/usr/lib/nginx/modules/ngx_rtmp_module.so"),
    Path("/usr/lib64/nginx/modules/ngx_rtmp_module.so"),
    Path("/usr/local/lib/nginx/modules/ngx_rtmp_module.so"),
)


HANDSHAKE_TIMEOUT = 5  # s; a real client finishes the RTMP handshake in milliseconds
PING_INTERVAL, PING_TIMEOUT = 10, 10  # s; a peer silent this long after a ping is dropped
IDLE_PUBLISHER = 10  # s without audio or video and a publisher is dropped
MAX_CONNECTIONS = 4000  # what nginx accepts at once; each costs a few kB and one descriptor


class NginxMissing(BystanderError):
    pass


def find_nginx() -> tuple[str, Path]:
    binary = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None)
    module = next((p for p in MODULE_PATHS if p.exists()), None)
    if binary is None or module is None:
        raise NginxMissing(
            "live mode needs nginx with the RTMP module (Debian/Ubuntu: apt install nginx-light libnginx-mod-rtmp)")
    return binary, module


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@dataclass
class Application:
    """One ``application`` block: its name and the directives inside it."""

    name: str
    directives: str = ""


class NginxRtmp:
    """``with NginxRtmp(apps, port=...) as server:`` runs nginx until the block ends."""

    def __init__(self, applications: list[Application], port: int | None = None, host: str = "127.0.0.1",
                 workdir: Path | None = None):
        self.binary, self.module = find_nginx()
        self.host = host
        self.port = port or free_port(host if host != "0.0.0.0" else "127.0.0.1")
        self.applications = applications
        self._own_dir = workdir is None
        self.dir = Path(workdir or tempfile.mkdtemp(prefix="bystander-nginx-"))
        self.proc: subprocess.Popen | None = None

    def config(self) -> str:
        apps = "\n".join(
            f"        application {a.name} {{\n            live on;\n{_indent(a.directives, 12)}\n        }}"
            for a in self.applications)
        return f"""load_module {self.module};
daemon off;
master_process off;
worker_processes 1;
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log crit;
events {{ worker_connections {MAX_CONNECTIONS + 100}; }}
rtmp {{
    access_log off;
    max_connections {MAX_CONNECTIONS};
    server {{
        listen {self.host}:{self.port};
        chunk_size 4096;
        timeout {HANDSHAKE_TIMEOUT}s;
        ping {PING_INTERVAL}s;
        ping_timeout {PING_TIMEOUT}s;
        drop_idle_publisher {IDLE_PUBLISHER}s;
{apps}
    }}
}}
http {{
    access_log off;
    server {{
        listen unix:{self.control_socket};
        location /stat {{ rtmp_stat all; }}
        location /control {{ rtmp_control all; }}
    }}
}}
"""

    @property
    def control_socket(self) -> Path:
        return self.dir / "control.sock"

    def _control(self, path: str) -> str:
        conn = _UnixHttp(str(self.control_socket))
        try:
            conn.request("GET", path)
            reply = conn.getresponse()
            body = reply.read().decode(errors="replace")
        finally:
            conn.close()
        if reply.status != 200:
            raise BystanderError(f"nginx control answered {reply.status}")
        return body

    def players(self, app: str, name: str) -> int:
        """How many clients play stream ``name`` of ``app`` (a stream may be waiting for its publisher)."""
        root = ET.fromstring(self._control("/stat"))
        return sum(1 for a in root.iter("application") if a.findtext("name") == app
                   for st in a.iter("stream") if st.findtext("name") == name
                   for c in st.iter("client") if c.find("publishing") is None)

    def drop_players(self, app: str, name: str) -> None:
        """Disconnect whoever plays ``name`` of ``app``: their reads end at once."""
        self._control("/control/drop/subscriber?" + urlencode({"app": app, "name": name}))

    def url(self, app: str, name: str = "") -> str:
        host = "127.0.0.1" if self.host == "0.0.0.0" else self.host
        return f"rtmp://{host}:{self.port}/{app}" + (f"/{name}" if name else "")

    def start(self) -> "NginxRtmp":
        conf = self.dir / "nginx.conf"
        conf.write_text(self.config())
        _allow_descriptors(MAX_CONNECTIONS + 200)  # inherited by nginx
        self.proc = subprocess.Popen(
            [self.binary, "-p", str(self.dir), "-c", str(conf), "-e", str(self.dir / "error.log")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace").strip()
                raise BystanderError(f"nginx failed to start on {self.host}:{self.port}: {err or 'no message'}")
            try:
                with socket.create_connection((self.host if self.host != "0.0.0.0" else "127.0.0.1", self.port),
                                              timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise BystanderError(f"nginx did not start listening on {self.host}:{self.port}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: recordings are closed properly
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None and self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None

    def __enter__(self) -> "NginxRtmp":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)


class _UnixHttp(http.client.HTTPConnection):
    def __init__(self, path: str):
        super().__init__("localhost", timeout=5)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


def _allow_descriptors(n: int) -> None:
    """Raise the soft limit on open files towards ``n`` (never above the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n if hard == resource.RLIM_INFINITY else min(n, hard)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def _indent(text: str, n: int) -> str:
    return "\n".join(" " * n + line.strip() for line in text.strip().splitlines() if line.strip())
