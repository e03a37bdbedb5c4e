"""``bystander serve``: the web app (registration, Photo and Video modes, gallery)."""

from __future__ import annotations

import logging
import sys

from ..registry import Home


def add_parser(sub) -> None:
    p = sub.add_parser("serve", help="run the web app", description=(
        "Serve the web app: first-run admin setup, face registration (webcam shots or uploads), "
        "Photo and Video modes with a gallery, and a JSON API (OpenAPI at /openapi.json)."))
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    p.add_argument("--port", type=int, default=8000, help="port (default %(default)s)")
    p.add_argument("--max-upload-mb", type=int, default=500, help="largest upload accepted (default %(default)s)")
    p.add_argument("--rtmp-listen", default="rtmp://0.0.0.0:1935/live",
                   help="where OBS/phone apps publish when Live is started from the page (default %(default)s)")
    p.set_defaults(func=run)


def run(args) -> int:
    from aiohttp import web

    from ..server.app import create_app

    home = Home.resolve(args.home)
    logging.basicConfig(level=logging.INFO, format="bystander: %(message)s", stream=sys.stderr)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)  # URLs may carry ?token=
    for noisy in ("aioice", "aiortc"):  # every ICE check at INFO
        logging.getLogger(noisy).setLevel(logging.WARNING)
    app = create_app(home.path, args.max_upload_mb, rtmp_listen=args.rtmp_listen)
    print(f"bystander: serving on http://{args.host}:{args.port}/ (data in {home.path})", file=sys.stderr,
          flush=True)
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None)
    return 0
