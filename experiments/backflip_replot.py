"""Redraw the flips.png of finished backflip runs from their files (after a change to the plot).

    python -m experiments.backflip_replot experiments/results/backflip/teacher_elites_history_members5_500_seed0 [...]

Reads each run directory's config.json, summary.json and metrics.jsonl and writes its flips.png
again (experiments.backflip.plot_run, the function the run itself drew it with); nothing else is
touched. Single runs only: a population's plot gathers its members and is drawn when it finishes.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

from experiments.backflip import POPULATION, plot_run
from prefrl import cli, run_dir
from prefrl.config import ConfigError


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.new_parser("python -m experiments.backflip_replot", __doc__)
    parser.add_argument("runs", type=Path, nargs="+", help="finished backflip run directories")
    ns = parser.parse_args(argv)
    for path in ns.runs:  # every directory checked before any plot is written
        if (path / POPULATION).exists():
            raise ConfigError(f"{path} is a population; its flips.png is drawn when the population finishes")
        missing = [f for f in ("config.json", "summary.json", "metrics.jsonl") if not (path / f).exists()]
        if missing:
            raise ConfigError(f"{path} is not a finished run (no {', '.join(missing)}); pass a run directory "
                              "of experiments.backflip that has finished")
    for path in ns.runs:
        summary = json.loads((path / "summary.json").read_text())
        plot_run(path, run_dir.load_config(path), summary, run_dir.MetricsLog(path / "metrics.jsonl").read())
        print(f"wrote {path / 'flips.png'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    cli.main_guard(main)()
