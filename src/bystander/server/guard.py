"""What every request passes before a handler: the Host it names, where it comes from, how big it
is; and the headers every response carries."""

from __future__ import annotations

import ipaddress
from typing import Iterable

from aiohttp import web

from .errors import error
from .limits import SMALL_BODY

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
UPLOAD_ROUTES = {"/api/photos", "/api/videos", "/api/people", "/api/people/check"}

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
        "media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def host_and_origin(allowed_hosts: Iterable[str]):
    """A middleware refusing a Host that is not this server's (a DNS-rebinding page names its own
    domain) and state-changing requests sent from another origin's page (CSRF)."""
    names = {"localhost", *(h.lower() for h in allowed_hosts)}

    @web.middleware
    async def check(request: web.Request, handler):
        host = (request.url.host or "").lower()
        if not (_is_ip(host) or host in names):
            raise error(403, f"Host {host!r} is not this server's; start serve with --allow-host {host} "
                             f"to reach it under that name")
        if request.method not in SAFE_METHODS:
            origin = request.headers.get("Origin")
            cross = request.headers.get("Sec-Fetch-Site") == "cross-site"
            if cross or (origin is not None and origin.partition("://")[2] != request.host):
                raise error(403, "refused: a request that changes something must come from this server's own page")
        return await handler(request)

    return check


def body_limit(upload_limit: int):
    """A middleware refusing big bodies before they are read: small ones everywhere, uploads only
    on the upload routes (which run after the token check), each file there checked against
    ``upload_limit`` as it streams to disk."""
    @web.middleware
    async def check(request: web.Request, handler):
        length = request.content_length or 0
        uploading = request.path in UPLOAD_ROUTES and request.method == "POST"
        limit = 5 * upload_limit + (1 << 20) if uploading else SMALL_BODY  # up to 5 registration shots
        if length > limit:
            raise error(413, f"request body too large: {length} bytes, at most {limit} here")
        return await handler(request)

    return check


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
