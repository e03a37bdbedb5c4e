"""What a command redacts and where each result goes: the files and folders given (a folder's
subfolders too with -r), written under -o, or as NAME_redacted beside each input."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import BystanderError


@dataclass(frozen=True)
class Job:
    src: Path
    dst: Path
    name: Path  # the input as given, relative to its folder when found in one: names its report


@dataclass(frozen=True)
class Plan:
    jobs: list[Job]
    single: bool  # one file was given: its result is told on its own, not as a batch
    roots: list[Path]  # where the results go: an output folder for each folder given, the files' folders

    @property
    def folders(self) -> list[Path]:
        """The output folders the jobs need, made only once the command is ready to write."""
        return sorted({*self.roots, *(job.dst.parent for job in self.jobs)})


def redacted_name(src: Path, suffix: str | None = None) -> Path:
    """NAME_redacted.EXT beside ``src`` (``suffix`` replacing EXT where the output cannot be the
    input's format)."""
    named = src if src.name else src.resolve()  # "." names no folder until resolved
    return named.with_name(f"{named.stem}_redacted{named.suffix if suffix is None else suffix}")


def _unclaimed(dst: Path, force: bool) -> Path:
    """An output nobody named in this command is not overwritten without --force."""
    if dst.exists() and not force:
        raise BystanderError(f"{dst}: already exists; pass -o to choose the output, or --force to overwrite it")
    return dst


def _same(a: Path, b: Path) -> bool:
    return a.exists() and b.exists() and a.resolve() == b.resolve()


def _found(folder: Path, suffixes: set[str], recursive: bool, skip: Path) -> list[Path]:
    """The files in ``folder`` with one of ``suffixes``: hidden ones (an unfinished output's
    temporary file among them) and those under ``skip`` (the output folder) left out."""
    found = folder.rglob("*") if recursive else folder.iterdir()
    skip = skip.resolve()
    return sorted(p for p in found
                  if p.suffix.lower() in suffixes and p.is_file()
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts)
                  and skip not in p.resolve().parents)


def plan(inputs: list[Path], output: Path | None, suffixes: set[str], *, recursive: bool = False,
         force: bool = False, out_suffix: Callable[[Path], str | None] = lambda p: None) -> Plan:
    """Every input file with its output, checked before anything is written: a missing input, an
    output that would overwrite an input or an earlier result, two inputs with one output."""
    several = len(inputs) > 1
    if several and output is not None and output.exists() and not output.is_dir():
        raise BystanderError(f"{output}: with several inputs, -o must name a folder")
    jobs: list[Job] = []
    roots: list[Path] = []
    for src in inputs:
        if not src.exists():
            raise BystanderError(f"{src}: no such file or folder")
        if src.is_dir():
            root = (output / src.resolve().name if several else output) if output is not None else \
                _unclaimed(redacted_name(src, ""), force)
            if root.exists() and not root.is_dir():
                raise BystanderError(f"{root}: the input {src} is a folder, so the output must be a folder too")
            if _same(root, src) and not force:
                raise BystanderError(f"{root}: this would overwrite the inputs; pass --force to allow it")
            roots.append(root)
            for f in _found(src, suffixes, recursive, root):
                rel = f.relative_to(src)
                suffix = out_suffix(f)
                jobs.append(Job(f, root / (rel if suffix is None else rel.with_suffix(suffix)), rel))
            continue
        suffix = out_suffix(src)
        if output is None:
            dst = _unclaimed(redacted_name(src, suffix), force)
        elif several or output.is_dir():
            dst = output / (src.name if suffix is None else Path(src.name).with_suffix(suffix))
        else:
            dst = output
        if _same(dst, src) and not force:
            raise BystanderError(f"{dst}: this would overwrite the input; pass --force to allow it")
        jobs.append(Job(src, dst, Path(src.name)))
        if dst.parent not in roots:
            roots.append(dst.parent)
    seen: dict[Path, Path] = {}
    for job in jobs:
        key = job.dst.resolve()
        if key in seen:
            raise BystanderError(f"{job.dst}: both {seen[key]} and {job.src} would be written here; "
                                 "give them different names or outputs")
        seen[key] = job.src
    return Plan(jobs, not several and not inputs[0].is_dir(), roots)


def add_input_options(p, what: str, each: str) -> None:
    p.add_argument("inputs", type=Path, nargs="+", metavar="INPUT",
                   help=f"{what}, or a folder of them; several may be given")
    p.add_argument("-o", "--output", type=Path,
                   help=f"output file for one {each}, else a folder (created when missing); default: "
                        "NAME_redacted.EXT beside each input file, FOLDER_redacted beside each folder")
    p.add_argument("-r", "--recursive", action="store_true",
                   help="take the files in a folder's subfolders too; the output folder keeps their layout")
    p.add_argument("--force", action="store_true",
                   help="allow outputs to overwrite the inputs, or an earlier NAME_redacted output")
    p.add_argument("--keep-metadata", action="store_true",
                   help="keep the input's metadata (capture time, camera, GPS position), which is stripped by "
                        "default; an embedded thumbnail, which shows the faces unredacted, is never kept")
