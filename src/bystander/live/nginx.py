"""A private nginx-rtmp server: the ingest that streamers publish to.

nginx (with Debian's ``libnginx-mod-rtmp``) speaks RTMP to OBS, PRISM and Larix
as they expect, handles their reconnects and asks us over HTTP (``on_publish``)
whether a stream key is right. It runs as a child process with a config in a
temporary folder, logs nothing about stream names, and stops with us.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import BystanderError

MODULE_PATHS = (
    Path("/usr/lib/nginx/modules/ngx_rtmp_module.so"),
    Path("/usr/lib64/nginx/modules/ngx_rtmp_module.so"),
    Path("/usr/local/lib/nginx/modules/ngx_rtmp_module.so"),
)


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
events {{ worker_connections 512; }}
rtmp {{
    access_log off;
    server {{
        listen {self.host}:{self.port};
        chunk_size 4096;
        ping 10s;
        drop_idle_publisher 10s;
{apps}
    }}
}}
"""

    def url(self, app: str, name: str = "") -> str:
        host = "127.0.0.1" if self.host == "0.0.0.0" else self.host
        return f"rtmp://{host}:{self.port}/{app}" + (f"/{name}" if name else "")

    def start(self) -> "NginxRtmp":
        conf = self.dir / "nginx.conf"
        conf.write_text(self.config())
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


def _indent(text: str, n: int) -> str:
    return "\n".join(" " * n + line.strip() for line in text.strip().splitlines() if line.strip())
