"""Draw a results folder written by experiments.sweep and summarise it.

    python -m experiments.plot experiments/results/hopper_700

Writes into the folder: summary.json (per group: final true return mean / 95% CI / per seed,
wall time, % of true-reward RL with a 95% bootstrap interval over seeds, a preference run's final
agreement of r_hat with the true order on the policy's own clips, and how often r_hat already
predicted the teacher's answers to the queries it was asked), across_tasks.json (per
setting: its % on each task and their mean with its bootstrap interval, the number the issue's
targets are stated in) and learning_curves.png, bits_of_feedback.png,
reward_model_accuracy.png, reward_hacking.png.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path

from prefrl import cli, plots
from prefrl.config import ConfigError
from prefrl.results import across_tasks, load_runs, summarise


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.new_parser("python -m experiments.plot", __doc__)
    parser.add_argument("results", type=Path, help="results folder (holding runs/)")
    ns = parser.parse_args(argv)
    if not (ns.results / "runs").is_dir():
        raise ConfigError(f"{ns.results} has no runs/ folder; pass the --out folder of a sweep")
    runs = load_runs(ns.results)
    if not runs:
        raise ConfigError(f"no runs in {ns.results / 'runs'}; run experiments.sweep first")
    summary = summarise(runs)
    (ns.results / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    settings = across_tasks(summary)
    (ns.results / "across_tasks.json").write_text(json.dumps(settings, indent=2) + "\n")
    plots.learning_curves(runs, ns.results / "learning_curves.png")
    plots.bits_of_feedback(summary, ns.results / "bits_of_feedback.png")
    plots.reward_model_accuracy(runs, ns.results / "reward_model_accuracy.png")
    plots.hacking(runs, ns.results / "reward_hacking.png")
    for group, s in summary.items():
        pct = s.get("return_vs_true_reward_pct")
        lo, hi = s.get("return_vs_true_reward_pct_ci95", (math.nan, math.nan))
        extra = ("" if pct is None else f", {pct:.0f}% [{lo:.0f}, {hi:.0f}] of true-reward RL" if math.isfinite(pct)
                 else ", no % of true-reward RL: the baseline ended no higher than it started")
        if "cpu_overhead_from_parts" in s:
            extra += f", preference loop {100 * s['preference_loop_cpu_share_mean']:.0f}% of the CPU time"
        print(f"{group}: {s['final_true_return_mean']:.1f} +- {s['final_true_return_ci95']:.1f} "
              f"(n={len(s['seeds'])}, {s['wall_time_min_mean']:.1f} min){extra}", file=sys.stderr)
    for setting, row in settings.items():
        if len(row["pct_per_task"]) > 1:
            each = ", ".join(f"{env} {pct:.0f}%" for env, pct in row["pct_per_task"].items())
            lo, hi = row["mean_pct_ci95"]
            print(f"{setting}, over tasks: mean {row['mean_pct']:.0f}% [95% bootstrap {lo:.0f}, {hi:.0f}] ({each}), wall time "
                  f"{row['mean_wall_time_ratio']:.2f}x and CPU time {row['mean_cpu_time_ratio']:.2f}x the true-reward run",
                  file=sys.stderr)
    return 0


if __name__ == "__main__":
    cli.main_guard(main)()
