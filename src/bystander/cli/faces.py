"""``bystander faces``: register, list and forget people."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

from ..errors import BystanderError
from .common import open_registry


def add_parser(sub) -> None:
    p = sub.add_parser("faces", help="manage registered people (their faces stay sharp)")
    fs = p.add_subparsers(dest="faces_command", required=True, metavar="{add,list,remove}",
                          help="what to do (bystander faces add --help for its options)")
    a = fs.add_parser("add", help="register a person from one or more photos (only embeddings are stored)",
                      description="Register a person from one or more photos of them: their face then stays "
                                  "visible while every other face is blurred. Only face embeddings are stored, never "
                                  "the photos. Each photo must show one clear face (or use --largest); a face "
                                  "already registered as someone else, or unlike the person's other shots, is "
                                  "refused.")
    a.add_argument("name", help="the person's name, as reports and `faces list` show it")
    a.add_argument("photos", nargs="+", type=Path, help="photos of that person (shots are added to earlier ones)")
    a.add_argument("--largest", action="store_true", help="in a photo with several faces, take the biggest")
    a.set_defaults(func=add)
    ls = fs.add_parser("list", help="who is registered, and how many shots each",
                       description="List the registered people and how many shots each has.")
    ls.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    ls.set_defaults(func=list_people)
    rm = fs.add_parser("remove", help="forget a person (their embeddings are deleted)",
                       description="Forget a registered person: their embeddings are deleted, and their face is "
                                   "blurred like everyone else's from then on.")
    rm.add_argument("name", help="the registered name to forget")
    rm.set_defaults(func=remove)


def add(args) -> int:
    from ..engine import Engine, EngineConfig
    from ..media.image import read_photo
    from ..registry import embed_registration_photo
    from ..registry.enrol import RECOMMENDED_SHOTS

    engine = Engine(config=EngineConfig())
    # Every photo is checked before anything is saved: all shots are added, or none.
    vectors = [embed_registration_photo(engine, read_photo(p).bgr, str(p), args.largest) for p in args.photos]
    with open_registry(args) as reg:
        person = reg.add(args.name, vectors, [p.name for p in args.photos])
    print(f"registered {person.name}: {len(vectors)} shot(s) added, {person.shots} in all")
    if person.shots < RECOMMENDED_SHOTS:
        print(f"bystander: {RECOMMENDED_SHOTS} to 5 shots from slightly different angles recognise {person.name} far "
              f"more reliably; add more with: bystander faces add {shlex.quote(person.name)} PHOTO...", file=sys.stderr)
    return 0


def list_people(args) -> int:
    with open_registry(args) as reg:
        people = reg.people()
    if args.json:
        print(json.dumps([p.as_dict() for p in people], indent=2))
    elif not people:
        print("nobody registered: every face will be redacted")
    else:
        width = max(len(p.name) for p in people)
        for p in people:
            print(f"{p.name:<{width}}  {p.shots} shot(s)")
    return 0


def remove(args) -> int:
    with open_registry(args) as reg:
        if not reg.remove(args.name):
            raise BystanderError(f"nobody named '{args.name}' is registered")
    print(f"removed {args.name}: their embeddings are deleted")
    return 0
