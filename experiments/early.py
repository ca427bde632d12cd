"""Does a run's early training tell how it will end?

For each logged metric (``--metric``) at each step count (``--at``): the value every run logged in
its first record at or after that many env steps and, across the runs, Spearman's rank correlation
of those values with the final true return (summary.json's ``final_true_return``). With ``--low R``
also how well the metric picks out the runs that end below R: the AUC, the share of (low run, other
run) pairs in which the low run's value is the smaller (ties count half; 0.5 is chance, 1 a perfect
early warning). A restart or a cull of a policy that starts badly can only act on what the agent
has (r_hat: ``train/mean_r_hat``, ``rm/agreement``); ``train/true_return`` beside it shows what the
true reward would have told.

    python -m experiments.early RUN_DIR [RUN_DIR ...] [--metric train/mean_r_hat ...] [--at 100000,200000]
        [--low 1000] [--out FILE.json]
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from experiments.selection import rank_corr
from prefrl import cli, run_dir

DEFAULT_METRICS = ("train/mean_r_hat", "train/true_return")
DEFAULT_AT = "100000,200000,300000"


def read_run(run: Path) -> tuple[float, list[dict[str, Any]]]:
    """A finished run's final true return and its logged records."""
    for name in ("summary.json", "metrics.jsonl"):
        if not (run / name).is_file():
            raise ValueError(f"{run}: no {name}; give the folder of a finished run")
    final = json.loads((run / "summary.json").read_text())["final_true_return"]
    return float(final), run_dir.MetricsLog(run / "metrics.jsonl").read()


def value_at(records: list[dict[str, Any]], metric: str, steps: int) -> float | None:
    """``metric`` in the first record at or after ``steps`` env steps that logs it; None if none does."""
    for record in records:
        if record.get("env_steps", 0) >= steps and record.get(metric) is not None:
            return float(record[metric])
    return None


def auc(low: Sequence[float], other: Sequence[float]) -> float | None:
    """The share of (low, other) pairs with the low value the smaller, ties half; None if a side is empty."""
    if not low or not other:
        return None
    wins = sum((a < b) + 0.5 * (a == b) for a in low for b in other)
    return wins / (len(low) * len(other))


def early_signal(runs: dict[str, tuple[float, list[dict[str, Any]]]], metric: str, steps: int,
                 low: float | None = None) -> dict[str, Any]:
    """``metric`` at ``steps`` in every run that logged it by then, against the runs' final returns."""
    values = {name: value_at(records, metric, steps) for name, (_, records) in runs.items()}
    values = {name: v for name, v in values.items() if v is not None}
    if not values:
        raise ValueError(f"no run logs {metric} at or after {steps} env steps")
    finals = [runs[name][0] for name in values]
    out: dict[str, Any] = {"metric": metric, "env_steps": steps, "runs": len(values),
                           "rank_corr_with_final": rank_corr(list(values.values()), finals)}
    if low is not None:
        out["low"] = low
        out["low_runs"] = [name for name in values if runs[name][0] < low]
        out["auc_low"] = auc([v for name, v in values.items() if runs[name][0] < low],
                             [v for name, v in values.items() if runs[name][0] >= low])
    out["values"] = values
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.new_parser("python -m experiments.early", __doc__)
    parser.add_argument("runs", nargs="+", type=Path, help="folders of finished runs")
    parser.add_argument("--metric", action="append",
                        help=f"a key of metrics.jsonl, repeatable (default: {' and '.join(DEFAULT_METRICS)})")
    parser.add_argument("--at", default=DEFAULT_AT, help=f"env steps, comma-separated (default: {DEFAULT_AT})")
    parser.add_argument("--low", type=float, help="also the AUC of picking out the runs whose final return is below this")
    parser.add_argument("--out", type=Path, help="also write the results to this JSON file (must not exist; its folder is made)")
    args = parser.parse_args(argv)
    try:
        at = [int(x) for x in args.at.split(",") if x.strip()]
        if not at or min(at) < 0:
            raise ValueError
    except ValueError:
        cli.fail(f"--at takes env step counts separated by commas, e.g. {DEFAULT_AT}; got {args.at!r}")
    cli.claim_out(args.out)
    try:
        runs = {str(run): read_run(run) for run in args.runs}
        results = [early_signal(runs, metric, steps, args.low)
                   for metric in args.metric or DEFAULT_METRICS for steps in at]
    except ValueError as e:
        cli.fail(str(e))
    for r in results:
        corr = "n/a" if r["rank_corr_with_final"] is None else f"{r['rank_corr_with_final']:+.2f}"
        line = f"{r['metric']} at {r['env_steps']} steps ({r['runs']} runs): rank correlation with the final return {corr}"
        if "auc_low" in r:
            a = "n/a" if r["auc_low"] is None else f"{r['auc_low']:.2f}"
            line += f"; AUC for the {len(r['low_runs'])} ending below {r['low']:g}: {a}"
        print(line)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
