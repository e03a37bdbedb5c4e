"""``bystander serve``: the web app (registration, Photo and Video modes, gallery)."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from pathlib import Path

from ..errors import BystanderError
from ..registry import Home
from .common import add_ray_option


def add_parser(sub) -> None:
    from ..media.limits import DEFAULT_MAX_PIXELS, DEFAULT_MAX_VIDEO_PIXELS
    from ..server.auth import SESSION_TTL

    p = sub.add_parser("serve", help="run the web app", description=(
        "Serve the web app: first-run admin setup (with the one-time code printed here), face registration "
        "(webcam shots or uploads), Photo and Video modes with a gallery, Live, and a JSON API (OpenAPI at "
        "/openapi.json). For a phone on the same network: --host 0.0.0.0 --https (browsers give the camera only to "
        "HTTPS pages); the console then shows the address and a QR code to scan."))
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    p.add_argument("--port", type=int, default=8000, help="port (default %(default)s)")
    p.add_argument("--https", action="store_true",
                   help="serve over TLS, which a phone's browser needs to use its camera: with a self-signed "
                        "certificate made on first run and kept in the data folder, or --cert/--key")
    p.add_argument("--cert", type=Path, metavar="PEM", help="TLS certificate (chain) to serve with; implies --https")
    p.add_argument("--key", type=Path, metavar="PEM", help="the private key of --cert")
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="a host name the app may be reached under besides IP addresses and localhost, e.g. "
                        "behind a reverse proxy (repeatable)")
    p.add_argument("--max-upload-mb", type=int, default=500, help="largest upload accepted (default %(default)s)")
    p.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS,
                   help="largest photo accepted, in pixels (default %(default)s)")
    p.add_argument("--max-video-pixels", type=int, default=DEFAULT_MAX_VIDEO_PIXELS,
                   help="largest video frame accepted, in pixels (default %(default)s, 8K UHD)")
    p.add_argument("--session-ttl", type=float, default=SESSION_TTL, metavar="SECONDS",
                   help="how long a sign-in lasts (default %(default)s)")
    p.add_argument("--rtmp-listen", default="rtmp://0.0.0.0:1935/live",
                   help="where OBS/phone apps publish when Live is started from the page (default %(default)s)")
    p.add_argument("--ice-server", action="append", default=[], metavar="URL",
                   help="a STUN or TURN server for going live from a browser (repeatable): stun:HOST[:PORT] or "
                        "turn:USER:PASSWORD@HOST[:PORT]. None by default: a phone on the same network, or this "
                        "machine, needs none, and nothing is contacted that you did not name")
    add_ray_option(p, "run the video jobs on a Ray cluster, cut into segments")
    p.set_defaults(func=run)


def run(args) -> int:
    from aiohttp import web

    from ..live.secret import MaskSecrets
    from ..server import tls
    from ..server.app import create_app
    from ..server.network import lan_addresses, qr_terminal, url_for

    if (args.cert is None) != (args.key is None):
        raise BystanderError("give --cert and --key together")
    os.umask(0o077)  # everything the server writes (embeddings, keys, results) is the owner's alone
    from ..server.whip import IceServer

    try:
        ice_servers = tuple(IceServer.parse(url) for url in args.ice_server)
    except ValueError as exc:
        raise BystanderError(f"--ice-server: {exc}") from None
    home = Home.resolve(args.home)
    https = args.https or args.cert is not None
    lan = lan_addresses(args.host)
    ssl_context = None
    if https:
        cert, key = (args.cert, args.key) if args.cert else tls.self_signed(home.path, lan)
        ssl_context = tls.context(cert, key)
    scheme = "https" if https else "http"
    logging.basicConfig(level=logging.INFO, format="bystander: %(message)s", stream=sys.stderr)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    for noisy in ("aioice", "aiortc"):  # every ICE check at INFO
        logging.getLogger(noisy).setLevel(logging.WARNING)
    app = create_app(home.path, args.max_upload_mb, rtmp_listen=args.rtmp_listen, session_ttl=args.session_ttl,
                     max_pixels=args.max_pixels, max_video_pixels=args.max_video_pixels,
                     allowed_hosts=(args.host, *args.allow_host), bind_host=args.host, ice_servers=ice_servers)
    state = app["state"]
    if args.ray:
        from ..cluster.connect import ray_cluster

        ray = contextlib.ExitStack()
        state.jobs.cluster = ray.enter_context(ray_cluster(args.ray))
        print(f"bystander: video jobs run on {state.jobs.cluster.describe()}", file=sys.stderr, flush=True)

        async def leave_ray(app) -> None:
            ray.close()

        app.on_cleanup.append(leave_ray)
    for handler in logging.getLogger().handlers:
        handler.addFilter(MaskSecrets(state.live_settings.secrets))
    print(f"bystander: serving on {url_for(scheme, args.host, args.port)} (data in {home.path})", file=sys.stderr,
          flush=True)
    if lan:
        phone = url_for(scheme, lan[0], args.port)
        hint = "" if https else " (add --https for its camera: browsers allow it only over HTTPS)"
        print(f"bystander: on a phone on the same network, open {phone}{hint}\n{qr_terminal(phone)}",
              file=sys.stderr, flush=True)
    if state.auth.setup_code:
        print(f"bystander: first-run setup code: {state.auth.setup_code} (the page asks for it to create the "
              f"admin login)", file=sys.stderr, flush=True)
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None, ssl_context=ssl_context)
    return 0
