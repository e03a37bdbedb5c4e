"""``bystander serve``: the web app (registration, Photo and Video modes, gallery)."""

from __future__ import annotations

import contextlib
import logging
import os
import sys

from ..registry import Home
from .common import add_ray_option


def add_parser(sub) -> None:
    from ..media.image import DEFAULT_MAX_PIXELS
    from ..server.limits import DEFAULT_MAX_VIDEO_PIXELS
    from ..server.auth import SESSION_TTL

    p = sub.add_parser("serve", help="run the web app", description=(
        "Serve the web app: first-run admin setup (with the one-time code printed here), face registration "
        "(webcam shots or uploads), Photo and Video modes with a gallery, and a JSON API (OpenAPI at "
        "/openapi.json)."))
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    p.add_argument("--port", type=int, default=8000, help="port (default %(default)s)")
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
    add_ray_option(p, "run the video jobs on a Ray cluster, cut into segments")
    p.set_defaults(func=run)


def run(args) -> int:
    from aiohttp import web

    from ..live.secret import MaskSecrets
    from ..server.app import create_app

    os.umask(0o077)  # everything the server writes (embeddings, keys, results) is the owner's alone
    home = Home.resolve(args.home)
    logging.basicConfig(level=logging.INFO, format="bystander: %(message)s", stream=sys.stderr)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    for noisy in ("aioice", "aiortc"):  # every ICE check at INFO
        logging.getLogger(noisy).setLevel(logging.WARNING)
    app = create_app(home.path, args.max_upload_mb, rtmp_listen=args.rtmp_listen, session_ttl=args.session_ttl,
                     max_pixels=args.max_pixels, max_video_pixels=args.max_video_pixels,
                     allowed_hosts=(args.host, *args.allow_host))
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
    print(f"bystander: serving on http://{args.host}:{args.port}/ (data in {home.path})", file=sys.stderr,
          flush=True)
    if state.auth.setup_code:
        print(f"bystander: first-run setup code: {state.auth.setup_code} (the page asks for it to create the "
              f"admin login)", file=sys.stderr, flush=True)
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None)
    return 0
