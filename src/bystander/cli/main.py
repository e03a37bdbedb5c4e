"""The ``bystander`` command."""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from .. import __version__
from ..engine import ModelError
from ..errors import BystanderError
from . import faces, live, photo, serve, video


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bystander",
        description="Blur every face except the people you registered, in photos, videos and live streams.")
    p.add_argument("--home", metavar="DIR",
                   help="where data lives (default: $BYSTANDER_HOME, else $XDG_DATA_HOME/bystander)")
    p.add_argument("--version", action="version", version=f"bystander {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    faces.add_parser(sub)
    photo.add_parser(sub)
    video.add_parser(sub)
    live.add_parser(sub)
    serve.add_parser(sub)
    return p


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C would be: every cleanup that runs for Ctrl-C runs for it."""


def _terminate(signum, frame) -> None:
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    # Commands print what the library logs (a video's damage) themselves, as "bystander: ..." lines;
    # without a handler Python would print it a second time, bare. serve and live configure logging.
    logging.getLogger("bystander").addHandler(logging.NullHandler())
    try:
        return args.func(args)
    except (BystanderError, ModelError) as exc:
        print(f"bystander: error: {exc}", file=sys.stderr)
        return getattr(exc, "exit_code", 2)
    except Terminated:
        print("bystander: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print("bystander: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        # What the commands do not name themselves: a full disk, a file size limit, a vanished folder.
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"bystander: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
