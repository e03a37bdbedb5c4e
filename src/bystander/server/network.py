"""Where a phone on the same network reaches this server: its LAN addresses, as URLs and QR codes."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import time

import segno

ANY_ADDRESS = ("0.0.0.0", "::", "")
CACHE_SECONDS = 10.0  # the pages poll the live state every second; addresses change far more rarely
_cache: dict[str, tuple[float, list[str]]] = {}


def _usable(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return not (ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast)


def lan_addresses(bind_host: str) -> list[str]:
    """The IPv4 addresses other machines can reach a server bound to ``bind_host`` at: none when it
    listens on loopback only; the machine's own addresses when it listens on all of them."""
    now = time.monotonic()
    hit = _cache.get(bind_host)
    if hit is None or now - hit[0] > CACHE_SECONDS:
        hit = _cache[bind_host] = (now, _lan_addresses(bind_host))
    return list(hit[1])


def _lan_addresses(bind_host: str) -> list[str]:
    if bind_host not in ANY_ADDRESS:
        try:
            return [bind_host] if _usable(bind_host) else []
        except ValueError:  # a host name: the user knows it better than we do
            return [bind_host] if bind_host != "localhost" else []
    found: list[str] = []
    # The address the default route leaves from (a UDP connect sends nothing); then the host name's.
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("192.0.2.1", 9))
        found.append(s.getsockname()[0])
    with contextlib.suppress(OSError):
        found += [info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)]
    return [a for a in dict.fromkeys(found) if _usable(a)]


def url_for(scheme: str, host: str, port: int) -> str:
    default = {"http": 80, "https": 443}.get(scheme)
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}/" if port == default else f"{scheme}://{host}:{port}/"


def qr_data_uri(text: str) -> str:
    """An SVG QR code of ``text`` as a data: URI (the page's CSP allows data: images)."""
    return segno.make(text, error="m").svg_data_uri(scale=4, border=2, dark="#000", light="#fff")


def qr_terminal(text: str) -> str:
    """The QR code of ``text`` in block characters, for the console serve runs in."""
    import io

    out = io.StringIO()
    segno.make(text, error="l").terminal(out=out, compact=True, border=2)
    return out.getvalue()
