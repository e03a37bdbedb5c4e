"""The ``bystander`` command."""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from .. import __version__
from ..errors import BystanderError
from . import faces, live, photo, serve, video


def _add_home_option(p: argparse.ArgumentParser, default) -> None:
    p.add_argument("--home", metavar="DIR", default=default,
                   help="where data lives, created when missing (default: $BYSTANDER_HOME, else "
                        "$XDG_DATA_HOME/bystander)")


class _CommandParser(argparse.ArgumentParser):
    """A subcommand's parser: it takes the global options too, so that ``bystander photo --home DIR``
    works as ``bystander --home DIR photo`` does. Nested subcommands (``faces add``) inherit the class."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # SUPPRESS: when not given after the subcommand, the value given before it is kept.
        _add_home_option(self, argparse.SUPPRESS)
        # The innermost command's parser, for options none of them knows (``main``).
        self.set_defaults(command_parser=self)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bystander",
        description="Blur every face except the people you registered, in photos, videos and live streams.")
    _add_home_option(p, None)
    p.add_argument("--version", action="version", version=f"bystander {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_CommandParser,
                           help="what to do (bystander COMMAND --help for its options)")
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


def _show_model_preparation() -> None:
    """At a terminal, the one line that says why a command's first run on this machine takes longer."""
    from ..engine import runtime

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("bystander: %(message)s"))
    handler.addFilter(lambda record: record.getMessage() == runtime.PREPARING)
    runtime_log = logging.getLogger(runtime.__name__)
    runtime_log.setLevel(logging.INFO)
    runtime_log.addHandler(handler)


def main(argv: list[str] | None = None) -> int:
    top = parser()
    args, unknown = top.parse_known_args(argv)
    if unknown:  # told with the command's own usage, not the top level's
        getattr(args, "command_parser", top).error(f"unrecognized arguments: {' '.join(unknown)}")
    signal.signal(signal.SIGTERM, _terminate)
    # Commands print what the library logs (a video's damage) themselves, as "bystander: ..." lines;
    # without a handler Python would print it a second time, bare. serve and live configure logging.
    logging.getLogger("bystander").addHandler(logging.NullHandler())
    if sys.stderr.isatty():
        _show_model_preparation()
    from ..engine.face import DetectorFault
    from ..engine.models import ModelError

    try:
        return args.func(args)
    except (BystanderError, ModelError, DetectorFault) as exc:
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
