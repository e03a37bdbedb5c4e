"""``bystander live``: RTMP in from OBS or a phone, bystanders redacted, out to YouTube/Twitch."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
from pathlib import Path

from ..errors import BystanderError
from ..live.schedule import live_settings
from ..live.secret import MaskSecrets, mask, mask_url
from .common import add_style_options, build_engine

HELP = """Receive a live stream over RTMP, redact every face except registered people, and publish it to
one or more RTMP destinations (YouTube, Twitch) as H.264 + AAC at the input's frame rate, audio in sync.
Point OBS / PRISM / Larix at the --listen URL with --key as the stream key. The output runs --delay
seconds behind the input, which lets each frame be judged with that much of its future: who a face
is, and where faces are on frames the detector skipped. When the machine cannot analyse every frame in
time it detects less often and places faces between detections; a frame whose faces are not known in
time is redacted whole. Needs nginx with the RTMP module (apt install nginx-light
libnginx-mod-rtmp). Ends when the publisher has been gone for --grace seconds, or on Ctrl-C."""


def add_parser(sub) -> None:
    p = sub.add_parser("live", help="redact a live RTMP stream and relay it", description=HELP)
    p.add_argument("--listen", default="rtmp://0.0.0.0:1935/live",
                   help="where publishers connect, rtmp://HOST:PORT/APP (default %(default)s)")
    p.add_argument("--key", help="the stream key publishers must use (default: $BYSTANDER_STREAM_KEY)")
    p.add_argument("--to", action="append", default=[], metavar="RTMP_URL",
                   help="a destination, e.g. rtmp://a.rtmp.youtube.com/live2/KEY (repeatable)")
    p.add_argument("--record", type=Path, metavar="FILE", help="also record the redacted stream to FILE")
    p.add_argument("--bitrate", type=int, metavar="KBPS",
                   help="video bitrate (default: YouTube's recommendation for the resolution)")
    p.add_argument("--grace", type=float, default=30.0,
                   help="seconds to wait for a dropped publisher to reconnect (default %(default)s)")
    p.add_argument("--wait", type=float, metavar="SECONDS",
                   help="give up if no publisher arrives within this time (default: wait forever)")
    p.add_argument("--delay", type=float, default=0.5, metavar="SECONDS",
                   help="how far the output runs behind the input, the judge's look-ahead; 0 judges frame "
                        "by frame (default %(default)s: YouTube and Twitch add seconds of their own)")
    p.add_argument("--detect-every", type=int, choices=(1, 2), metavar="N",
                   help="run the detector on every Nth frame, placing faces between detections (default: adapt "
                        "to the machine)")
    p.add_argument("--max-height", type=int, metavar="PIXELS",
                   help="send the stream at most this high, scaled down from the publisher's (default: the "
                        "publisher's own, or 720 where this machine measures it cannot keep up with 1080p)")
    p.add_argument("--analysis-size", type=int, default=1280, metavar="PIXELS",
                   help="longest side the detector sees; larger finds smaller faces in big frames but costs "
                        "more (default %(default)s)")
    p.add_argument("--stats-json", metavar="FILE", help="append a JSON status line every second to FILE ('-': stdout)")
    add_style_options(p)
    p.add_argument("-q", "--quiet", action="store_true", help="no status line")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..live.ingest import ListenAddress, RtmpIngest
    from ..live.relay import Relay, RelayOptions, warm_up
    from ..live.source import RtmpSource
    from ..live.stats import status_line

    key = args.key or os.environ.get("BYSTANDER_STREAM_KEY")
    if not key:
        raise BystanderError("a stream key is needed: --key or $BYSTANDER_STREAM_KEY")
    if not args.to and not args.record:
        raise BystanderError("nowhere to send the stream: give --to RTMP_URL and/or --record FILE")
    for url in args.to:
        if not url.startswith(("rtmp://", "rtmps://")):
            raise BystanderError(f"--to {mask_url(url)}: expected an rtmp:// or rtmps:// URL")
    if args.record and not args.record.parent.is_dir():
        raise BystanderError(f"--record {args.record}: folder {args.record.parent} does not exist")
    secrets = [key, *args.to]
    listen = ListenAddress.parse(args.listen)
    logging.basicConfig(level=logging.WARNING, format="bystander: %(message)s", stream=sys.stderr)
    for h in logging.getLogger().handlers:
        h.addFilter(MaskSecrets(lambda: secrets))
    engine = build_engine(args, analysis_size=args.analysis_size, **live_settings())
    stats_out = _open_stats(args.stats_json)
    interactive = not args.quiet and sys.stderr.isatty()

    def on_status(s: dict) -> None:
        if stats_out is not None:
            stats_out.write(mask(json.dumps(s), secrets) + "\n")
            stats_out.flush()
        if interactive:
            print("\r\x1b[2K" + mask(status_line(s), secrets), end="", file=sys.stderr, flush=True)

    if not 0 <= args.delay <= 10:
        raise BystanderError(f"--delay {args.delay:g}: must be between 0 and 10 seconds")
    if args.max_height is not None and not 144 <= args.max_height <= 4320:
        raise BystanderError(f"--max-height {args.max_height}: must be between 144 and 4320 pixels")
    options = RelayOptions(destinations=args.to, record=args.record, kbps=args.bitrate, stride=args.detect_every,
                           delay=args.delay, max_height=args.max_height)
    capacity = warm_up(engine)
    with RtmpIngest(listen, key) as ingest:
        relay = Relay(engine, RtmpSource(ingest, first_wait=args.wait, grace=args.grace), options, on_status,
                      capacity)
        print(f"bystander: publish to rtmp://{listen.host}:{ingest.server.port}/{listen.app} "
              f"with your stream key; relaying to {len(args.to)} destination(s)", file=sys.stderr)
        previous = {s: signal.signal(s, lambda *_: relay.stop()) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            final = relay.run()
            final["event"] = "end"
            if stats_out is not None:  # the last line: the whole run, the frames still in the window included
                stats_out.write(mask(json.dumps(final), secrets) + "\n")
        finally:
            for s, h in previous.items():
                signal.signal(s, h)
            if stats_out not in (None, sys.stdout):
                stats_out.close()
    if interactive:
        print(file=sys.stderr)
    print(mask(_summary(final), secrets), file=sys.stderr)
    return 0 if final["frames"] or args.wait is None else 1


def _summary(s: dict) -> str:
    lat = "" if s["latency_ms_p50"] is None else \
        f", added latency p50 {s['latency_ms_p50']:.0f} ms / p95 {s['latency_ms_p95']:.0f} ms"
    return (f"bystander: live ended after {s['uptime_s']:.0f} s: {s['frames']} frames, "
            f"{s['faces_redacted']} face-frames redacted, {s['faces_kept']} kept, "
            f"{s['coast']} placed between detections, {s['blank']} redacted whole{lat}; "
            f"{_privacy(s['privacy'])}")


def _privacy(p: dict) -> str:
    from ..engine.report import others_blurred_text

    kept = ", ".join(f"{k['person']} {k['seconds']:.0f} s" for k in p["kept"]) or "nobody"
    return f"kept: {kept}; {others_blurred_text(p['others_blurred'])}"


def _open_stats(target: str | None):
    if target is None:
        return None
    if target == "-":
        return sys.stdout
    return open(target, "a", encoding="utf-8")

