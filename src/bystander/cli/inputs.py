"""What a command redacts and where each result goes: the files and folders given (a folder's
subfolders too with -r), written under -o, or as NAME_redacted beside each input."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import BystanderError


REDACTED = "_redacted"  # what a default output's name ends with


@dataclass(frozen=True)
class Job:
    src: Path
    dst: Path
    name: Path  # the output relative to its folder (-o, FOLDER_redacted, or beside its input): names its report


@dataclass(frozen=True)
class Plan:
    jobs: list[Job]
    single: bool  # one file was given: its result is told on its own, not as a batch
    roots: list[Path]  # where the results go: an output folder for each folder given, the files' folders
    # Output folders this command makes: for folders given, and -o naming a folder. An output file
    # named with -o goes into a folder that exists: a mistyped path makes none.
    folders: list[Path]
    # Files in the folders given that are not taken: other kinds of file, and earlier outputs.
    others: int = 0
    earlier: int = 0

    def skipped(self) -> str:
        """What a folder run left out, as the end of its summary line ("" when nothing)."""
        parts = [*([f"{self.others} other file(s)"] if self.others else []),
                 *([f"{self.earlier} earlier output(s) (NAME{REDACTED})"] if self.earlier else [])]
        return f"; skipped {' and '.join(parts)}" if parts else ""

    def make_folders(self) -> None:
        """Called once the command is ready to write."""
        for folder in self.folders:
            folder.mkdir(parents=True, exist_ok=True)


def _redacted_name(src: Path, suffix: str | None = None) -> Path:
    """NAME_redacted.EXT beside ``src`` (``suffix`` replacing EXT where the output cannot be the
    input's format)."""
    named = src.resolve() if src.name in ("", ".", "..") else src  # "." and ".." name their folder once resolved
    if not named.name:
        raise BystanderError(f"{src}: no folder to write {src}_redacted beside; name the output with -o")
    return named.with_name(f"{named.stem}{REDACTED}{named.suffix if suffix is None else suffix}")


def _unclaimed(dst: Path, force: bool) -> Path:
    """An output nobody named in this command is not overwritten without --force."""
    if dst.exists() and not force:
        raise BystanderError(f"{dst}: already exists; pass -o to choose the output, or --force to overwrite it")
    return dst


def _inside(path: Path, folder: Path) -> bool:
    path, folder = path.resolve(), folder.resolve()
    return path != folder and folder in path.parents


def _earlier_output(rel: Path) -> bool:
    """A NAME_redacted file, or anything in a FOLDER_redacted: what an earlier run wrote."""
    return any(part.endswith(REDACTED) for part in rel.parent.parts) or rel.stem.endswith(REDACTED)


def _found(folder: Path, accept: Callable[[Path], bool], recursive: bool,
           skip: Path | None) -> tuple[list[Path], int, int]:
    """The files in ``folder`` that ``accept`` takes, hidden ones (an unfinished output's temporary
    file among them) and those under ``skip`` (an output folder inside it) left out; and how many
    earlier outputs and other files were left out too."""
    found, earlier, others = [], 0, 0
    for p in folder.rglob("*") if recursive else folder.iterdir():
        rel = p.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts) or (skip is not None and _inside(p, skip)):
            continue
        if p.is_file() and accept(p):
            if _earlier_output(rel):
                earlier += 1
            else:
                found.append(p)
        elif p.is_file():
            others += 1
    return sorted(found), earlier, others


def plan(inputs: list[Path], output: str | None, accept: Callable[[Path], bool], what: str, *,
         recursive: bool = False, force: bool = False, out_suffix: Callable[[Path], str | None] = lambda p: None,
         file_suffixes: set[str] = frozenset()) -> Plan:
    """Every input file with its output, checked before anything is written: a missing input, an
    output that would overwrite an input or an earlier result, two inputs with one output, nothing
    to do. ``accept`` says which files of a folder are taken; ``output`` is -o as given: a trailing
    slash names a folder, and one for several inputs or a folder may not look like a file's name
    (end in one of ``file_suffixes``)."""
    several = len(inputs) > 1
    out = Path(output) if output is not None else None
    into_folder = out is not None and (several or output.endswith(("/", os.sep)) or out.is_dir())
    if into_folder and out.exists() and not out.is_dir():
        raise BystanderError(f"{out}: with several inputs, -o must name a folder")
    if out is not None and not out.exists() and out.suffix.lower() in file_suffixes and \
            not output.endswith(("/", os.sep)) and (several or any(src.is_dir() for src in inputs)):
        raise BystanderError(f"{out}: names a file, but the output of several inputs or a folder is a folder; "
                             "give a folder name")
    jobs: list[Job] = []
    roots: list[Path] = []
    folders: set[Path] = {out} if into_folder else set()
    others = earlier_outputs = 0
    for src in inputs:
        if not src.exists():
            raise BystanderError(f"{src}: no such file or folder")
        if src.is_dir():
            if out is None:
                root = _redacted_name(src, "")
            else:
                root = out / src.resolve().name if several else out
            if root.exists() and not root.is_dir():
                raise BystanderError(f"{root}: the input {src} is a folder, so the output must be a folder too")
            roots.append(root)
            skip = out if out is not None and _inside(out, src) else root if _inside(root, src) else None
            found, earlier, other = _found(src, accept, recursive, skip)
            others, earlier_outputs = others + other, earlier_outputs + earlier
            if not found:
                deeper = "" if recursive else "; -r takes its subfolders too"
                skipped = f" but {earlier} earlier output(s) (NAME{REDACTED}), which are skipped" if earlier else ""
                raise BystanderError(f"{src}: no {what} found in this folder{skipped}{deeper}")
            for f in found:
                rel = f.relative_to(src)
                suffix = out_suffix(f)
                rel = rel if suffix is None else rel.with_suffix(suffix)
                dst = root / rel if out is not None else _unclaimed(root / rel, force)
                jobs.append(Job(f, dst, root.name / rel if several and out is not None else rel))
                folders.add(jobs[-1].dst.parent)
            continue
        suffix = out_suffix(src)
        name = Path(src.name if suffix is None else Path(src.name).with_suffix(suffix))
        if out is None:
            dst = _unclaimed(_redacted_name(src, suffix), force)
        elif into_folder:
            dst = out / name
        else:
            dst = out
        jobs.append(Job(src, dst, name))
        if dst.parent not in roots:
            roots.append(dst.parent)
    sources = {job.src.resolve(): job.src for job in jobs}
    written: dict[Path, Path] = {}
    for job in jobs:
        key = job.dst.resolve()
        if key in sources and not force:
            raise BystanderError(f"{job.dst}: this would overwrite the input {sources[key]}; "
                                 "pass --force to allow it")
        if key in written:
            raise BystanderError(f"{job.dst}: both {written[key]} and {job.src} would be written here; "
                                 "give them different names or outputs")
        written[key] = job.src
    return Plan(jobs, not several and not inputs[0].is_dir(), roots, sorted(folders), others, earlier_outputs)


def add_input_options(p, what: str, each: str) -> None:
    p.add_argument("inputs", type=Path, nargs="+", metavar="INPUT",
                   help=f"{what}, or a folder of them; several may be given")
    p.add_argument("-o", "--output", metavar="OUTPUT",
                   help=f"output file for one {each}, else a folder (created when missing; a trailing / makes "
                        "it one); default: NAME_redacted.EXT beside each input file, FOLDER_redacted beside "
                        "each folder")
    p.add_argument("-r", "--recursive", action="store_true",
                   help="take the files in a folder's subfolders too; the output folder keeps their layout")
    p.add_argument("--force", action="store_true",
                   help="allow outputs to overwrite the inputs, or an earlier NAME_redacted output")
    p.add_argument("--keep-metadata", action="store_true",
                   help="keep the input's metadata (capture time, camera, GPS position), which is stripped by "
                        "default; an embedded thumbnail, which shows the faces unredacted, is never kept")
