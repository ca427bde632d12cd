"""The issue's targets read for settings chosen per task: one preference group per task, each
from a results folder, and the mean over the tasks of their % of true-reward RL with its 95%
bootstrap interval, as across_tasks.json gives it for one setting on every task.

    python -m experiments.combine "DIR::GROUP" ["DIR::GROUP" ...] [--out FILE.json]

GROUP is a preference group's name in DIR/summary.json (written by ``python -m experiments.plot
DIR``), read against the baseline its % was taken against there: a task's RL settings are its own
and its baseline shares them, as the paper tuned some settings per task (segment length, Swimmer's
entropy bonus). ``DIR::GROUP::SEEDS`` (e.g. ``::14-25`` or ``::0,2,5-9``) reads the group on those of
its seeds alone, against the same baselines: the reading a folder holding only those seeds of it would
give, without copying runs. The picks must be of different tasks and one label budget. With every pick of one
setting from one folder the result is that setting's row of DIR/across_tasks.json, to the digit.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from prefrl import cli
from prefrl.results import (
    group_pct_resamples,
    group_rng,
    is_preference_group,
    percentile_interval,
    read_group,
)


def pick(spec: str) -> tuple[Path, str, dict[str, Any], dict[str, Any]]:
    """``DIR::GROUP`` -> (DIR, GROUP, the group's stats, the folder's summary), a preference group."""
    folder, group, stats, summary = read_group(spec)
    if not is_preference_group(stats):
        raise ValueError(f"{group!r} in {folder / 'summary.json'} is a baseline or has no baseline to be read "
                         "against; pick a preference group")
    return folder, group, stats, summary


def combine(specs: Sequence[str]) -> dict[str, Any]:
    picks = [pick(spec) for spec in specs]
    envs = [stats["env"] for _, _, stats, _ in picks]
    if len(set(envs)) != len(envs):
        raise ValueError(f"one group per task: {', '.join(envs)} names a task twice")
    if len({stats["labels"] for _, _, stats, _ in picks}) > 1:
        raise ValueError("the groups have different label budgets; combine groups of one budget")
    rows, draws = [], []
    for folder, group, stats, summary in picks:
        env = stats["env"]
        draws.append(group_pct_resamples(stats, summary, group_rng(group, env)))
        rows.append({"results": str(folder), "group": group, "env": env, "seeds": stats["seeds"],
                     "pct": stats["return_vs_true_reward_pct"], "pct_ci95": stats["return_vs_true_reward_pct_ci95"],
                     "baseline": stats["true_reward_baseline"]})
    return {"labels": picks[0][2]["labels"], "per_task": rows,
            "mean_pct": float(np.mean([row["pct"] for row in rows])),
            "mean_pct_ci95": percentile_interval(np.mean(draws, axis=0))}


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.new_parser("python -m experiments.combine", __doc__)
    parser.add_argument("picks", nargs="+", help="DIR::GROUP[::SEEDS], one per task")
    parser.add_argument("--out", type=Path, help="also write the result to this JSON file (must not exist; its folder is made)")
    args = parser.parse_args(argv)
    cli.claim_out(args.out)
    try:
        result = combine(args.picks)
    except ValueError as e:
        cli.fail(str(e))
    for row in result["per_task"]:
        low, high = row["pct_ci95"]
        print(f"{row['env']}: {row['pct']:.0f}% [{low:.0f}, {high:.0f}] (seeds {row['seeds']}; {row['group']})")
    low, high = result["mean_pct_ci95"]
    print(f"mean over tasks, {result['labels']} labels: {result['mean_pct']:.0f}% [{low:.0f}, {high:.0f}]")
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
