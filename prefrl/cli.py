"""Command lines from config dataclasses; bad input exits 2 with one line saying what to do."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from prefrl.config import ConfigError

T = TypeVar("T")


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _parse_bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes"):
        return True
    if text.lower() in ("0", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def field_type(f: dataclasses.Field) -> Callable[[str], Any]:
    """How a dataclass field's value is read from text: bools as true/false, else its default's type."""
    kind = type(f.default)
    return _parse_bool if kind is bool else kind


def parse_overrides(text: str, cls: type, flag: str = "--overrides") -> dict[str, Any]:
    """``NAME=VALUE,...`` (comma-separated) settings of the dataclass ``cls``, each read as its field's type."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    settings: dict[str, Any] = {}
    for item in (x for x in text.split(",") if x.strip()):
        name, _, value = item.partition("=")
        name = name.strip().replace("-", "_")
        if name not in fields or not value:
            raise ConfigError(f"{flag}: {item!r} is not NAME=VALUE with NAME a run setting (e.g. ent_coef=0.01)")
        try:
            settings[name] = field_type(fields[name])(value.strip())
        except (ValueError, argparse.ArgumentTypeError) as e:
            raise ConfigError(f"{flag}: malformed value in {item!r}: {e}") from e
    return settings


def summary(doc: str) -> str:
    """A module docstring's first paragraph as one line: the ``--help`` description."""
    return " ".join(doc.split("\n\n")[0].split())


def new_parser(prog: str, doc: str, **kwargs: Any) -> argparse.ArgumentParser:
    """An entry point's parser: ``doc``'s first paragraph as its description, errors in one line."""
    return _OneLineParser(prog=prog, description=summary(doc), **kwargs)


def build_parser(cls: type, prog: str, doc: str, defaults: dict[str, Any] | None = None
                 ) -> argparse.ArgumentParser:
    """One ``--flag`` per field of the dataclass ``cls``; bools are switches."""
    parser = new_parser(prog, doc, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    defaults = defaults or {}
    for f in dataclasses.fields(cls):
        flag = "--" + f.name.replace("_", "-")
        default = defaults.get(f.name, f.default)
        if type(f.default) is bool:
            parser.add_argument(flag, dest=f.name, type=field_type(f), nargs="?", const=True,
                                default=default, help=f.metadata.get("help"))
        else:
            parser.add_argument(flag, dest=f.name, type=field_type(f), default=default, help=f.metadata.get("help"))
    return parser


def parse(cls: type[T], argv: Sequence[str] | None, parser: argparse.ArgumentParser) -> tuple[T, argparse.Namespace]:
    """Parse argv into ``cls`` (fields) and the namespace (fields plus any extra arguments)."""
    ns = parser.parse_args(argv)
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in vars(ns).items() if k in names}), ns


def fail(message: str) -> NoReturn:
    """Bad input: one line on stderr saying what to do, exit code 2."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def claim_out(path: Path | None) -> None:
    """A results file a command will write: refuse one that exists (nothing is overwritten), make its folder now,
    before the work, so that minutes of rollouts are not lost to a missing folder at the end."""
    if path is None:
        return
    if path.exists():
        fail(f"--out {path} exists; give a new file name (nothing was overwritten)")
    path.parent.mkdir(parents=True, exist_ok=True)


def main_guard(fn: Callable[[], int | None]) -> Callable[[], None]:
    """Run ``fn``; a ConfigError becomes one line on stderr and exit code 2."""

    def wrapped() -> None:
        os.environ.setdefault("MUJOCO_GL", "egl")
        try:
            from prefrl.run_dir import check_numerics_environment

            check_numerics_environment()
            code = fn()
        except ConfigError as e:
            fail(str(e))
        sys.exit(code or 0)

    return wrapped


def default_run_dir(root: str | Path, *parts: Any) -> Path:
    return Path(root).joinpath("_".join(str(p) for p in parts))


def add_label_page_flags(parser: argparse.ArgumentParser) -> None:
    """--label-host / --label-port for ``--teacher human``."""
    parser.add_argument("--label-host", default="127.0.0.1",
                        help="address the labelling page binds (any but 127.0.0.1 needs the printed token)")
    parser.add_argument("--label-port", type=int, default=8000, help="port of the labelling page (taken: a free one)")


@contextlib.contextmanager
def teacher_closed(teacher):
    """Close a person's labelling page (if any) when training ends, however it ends."""
    try:
        yield teacher
    finally:
        if teacher is not None:
            teacher.close()


def start_teacher(config: Any, run_dir: str | Path, ns: argparse.Namespace):
    """For ``--teacher human``: start the run's labelling page and return its HumanTeacher; else None."""
    if config.teacher != "human":
        return None
    from experiments.label import start_page

    return start_page(config, run_dir, host=ns.label_host, port=ns.label_port)
