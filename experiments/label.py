"""Open the labelling page of a run: compare two clips, press an arrow key, repeat.

    python -m experiments.label runs/Hopper_700_s0
    python -m experiments.label runs/Hopper_700_s0 --host 0.0.0.0 --port 8000   # prints a token URL
    python -m experiments.label runs/Hopper_700_s0 --export labels.jsonl         # no page

Keys: left/right arrow = that clip is better, up = equal, down = can't tell, u = undo.
Several people can label at once, each under their own name (asked by the page). Stats of the
labelers (gold accuracy, agreement) are at /stats. Labels go straight into RUN_DIR/labels.sqlite;
a running trainer picks them up. ``--teacher human`` on the experiments starts this page itself.
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from pathlib import Path  # noqa: E402

from prefrl import cli, run_dir  # noqa: E402
from prefrl.config import ConfigError, RunConfig  # noqa: E402

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8000


def build_parser() -> argparse.ArgumentParser:
    p = cli.new_parser("python -m experiments.label", __doc__,
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("run_dir", help="run directory holding config.json and labels.sqlite")
    p.add_argument("--host", default=DEFAULT_HOST, help="address to bind; anything but loopback needs a token")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (0 picks a free one)")
    p.add_argument("--redundancy", type=int, default=1, help="labelers per query (agreement is measured from 2)")
    p.add_argument("--gold", type=int, default=5, help="gold queries with a clear oracle answer, added once per run")
    p.add_argument("--gold-every", type=int, default=10, help="regular labels between two gold queries")
    p.add_argument("--clip-size", type=int, default=128, help="clip side in pixels")
    p.add_argument("--export", metavar="FILE", help="write every label as JSONL to FILE ('-': stdout) and exit")
    p.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)  # exit when the trainer has gone
    return p


def main(argv: Sequence[str] | None = None) -> int:
    ns = build_parser().parse_args(argv)
    from prefrl.labeling import LabelServer, PageConfig

    try:
        config = PageConfig.from_run(ns.run_dir, redundancy=ns.redundancy, gold=ns.gold, gold_every=ns.gold_every,
                                     clip_size=ns.clip_size, token=os.environ.get("PREFRL_LABEL_TOKEN"))
    except ValueError as e:
        raise ConfigError(str(e)) from e
    if ns.export:
        return export(config.run_dir, ns.export)
    if not 0 <= ns.port <= 65535:
        raise ConfigError(f"--port must be 0..65535, got {ns.port}")
    try:
        server = LabelServer(config, ns.host, ns.port).start()
    except ValueError as e:
        raise ConfigError(str(e)) from e
    print(f"labelling page for {config.run_dir}: {server.url}", flush=True)
    if server.app.config.token:
        print("the token in this URL is needed on every request; share it only with your labelers", flush=True)
    server.serve_forever(ns.parent_pid)
    return 0


def export(path: Path, out: str) -> int:
    from prefrl.store import LabelStore

    store = LabelStore(Path(path) / "labels.sqlite")
    lines = "".join(json.dumps(r) + "\n" for r in store.label_records())
    store.close()
    if out == "-":
        sys.stdout.write(lines)
    else:
        try:
            Path(out).write_text(lines)
        except OSError as e:
            raise ConfigError(f"cannot write {out}: {e.strerror}") from e
    return 0


def start_page(config: RunConfig, path: str | Path, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT):
    """For ``--teacher human``: prepare the run directory, start its page in its own process
    (which prints the URL) and return the run's :class:`~prefrl.labeling.HumanTeacher`.

    Close the teacher when training ends. Port 8000 taken? A free one is picked instead.
    """
    from prefrl.labeling import launch_page
    from prefrl.labeling.server import check_port

    path = run_dir.prepare(Path(path), config)
    try:
        port = check_port(host, port)
    except ValueError:
        port = check_port(host, 0)
    command = [sys.executable, "-m", "experiments.label", str(path), "--host", host, "--port", str(port),
               "--parent-pid", str(os.getpid())]
    try:
        return launch_page(command, host, port)
    except RuntimeError as e:
        raise ConfigError(str(e)) from e


if __name__ == "__main__":
    cli.main_guard(main)()
