"""What the teacher was shown: the clips of finished runs' queries, by stage of training.

    python -m experiments.queried experiments/results/walker2d_queries_1M

For every finished run under RESULTS/runs that kept its label store (``labels.sqlite``), its
answered queries are grouped by when they were asked: pretraining (the queries on the first
policy's clips), then each quarter of the run's env steps. Per group: the share of clip steps with
the body down (``info["healthy"]`` 0, the state in which the v5 task would have ended, which
``--train-down-seconds`` counts: for Walker2d a fallen body; for Hopper also a torso leaning more
than 0.2 rad, as it does while hopping fast), the share of pairs in which both clips are down for
most of their steps, where the task reports them the clips' mean torso height and share of steps
upside down (``info["upright"]`` below 0, as evaluations count it), their mean true reward per
step, the mean difference per step between a pair's two clips under the true reward
(``gap_per_step``), and how the teacher answered: the share of its answers that were "equal" or
"skip" (``undecided``), and of its left/right answers on pairs whose true returns differ, the
share that picked the clip with the larger true return (``agrees_with_true_reward``: 1 for the
perfect oracle; how wrong a noisy or biased teacher was on the clips it was actually shown). A run
whose queries show fallen bodies spends its labels teaching the reward model about lying, not
about walking. Writes ``queried.json`` into RESULTS (per run and, over seeds, per arm) and prints
one row per run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from prefrl import cli
from prefrl.agents import upside_down_share
from prefrl.config import ConfigError
from prefrl.segments import Segment
from prefrl.store import LabelStore
from prefrl.teachers import Choice

STAGES = ("pretraining", "1st quarter", "2nd quarter", "3rd quarter", "4th quarter")


def stage(env_steps: int, config: dict[str, Any]) -> int:
    """Index into STAGES of a query asked at ``env_steps`` of a run with this config.json."""
    if env_steps <= 0:
        return 0
    return 1 + min(3, int(4 * (env_steps - 1) / config["steps"]))


def down_share(segment: Segment) -> float:
    """Share of a clip's steps with the body down."""
    return float(np.mean(np.asarray(segment.facts["healthy"]) == 0))


def agreement(pairs: list[tuple[Segment, Segment]], choices: list[Choice]) -> float:
    """Of the left/right answers on pairs whose true returns differ, the share that picked the clip
    with the larger true return; nan if there is none."""
    picks = [(choice == Choice.LEFT) == (a.true_reward.sum() > b.true_reward.sum())
             for (a, b), choice in zip(pairs, choices, strict=True)
             if choice in (Choice.LEFT, Choice.RIGHT) and a.true_reward.sum() != b.true_reward.sum()]
    return float(np.mean(picks)) if picks else float("nan")


def stage_row(pairs: list[tuple[Segment, Segment]], choices: list[Choice]) -> dict[str, float]:
    clips = [s for pair in pairs for s in pair]
    row = {
        "labels": len(pairs),
        "down_share": float(np.mean([down_share(s) for s in clips])),
        "both_down": float(np.mean([down_share(a) > 0.5 and down_share(b) > 0.5 for a, b in pairs])),
        "true_reward_per_step": float(np.mean([s.true_reward.mean() for s in clips])),
        # how far apart the two clips of a pair are under the true reward, per step: small for
        # near-ties (what entropy selection seeks), large for pairs any r_hat already orders
        "gap_per_step": float(np.mean([abs(a.true_reward.mean() - b.true_reward.mean()) for a, b in pairs])),
        "undecided": float(np.mean([choice in (Choice.EQUAL, Choice.SKIP) for choice in choices])),
        "agrees_with_true_reward": agreement(pairs, choices),
    }
    if "height" in clips[0].facts:
        row["height"] = float(np.mean([np.mean(s.facts["height"]) for s in clips]))
    if "upright" in clips[0].facts:
        row["upside_down"] = float(np.mean([upside_down_share(s.facts["upright"]) for s in clips]))
    return row


def run_rows(run: Path) -> list[dict[str, Any]] | None:
    """Per stage, the queried clips of one finished run; None where the run kept no label store or
    its task does not report ``healthy``."""
    config = json.loads((run / "config.json").read_text())
    store_path = run / "labels.sqlite"
    if not (run / "summary.json").exists() or not store_path.exists():
        return None
    store = LabelStore(store_path)
    try:
        by_stage: list[list[tuple[Segment, Segment]]] = [[] for _ in STAGES]
        answers: list[list[Choice]] = [[] for _ in STAGES]
        for query, label in store.answered():
            pair = (store.segment(query.left_id), store.segment(query.right_id))
            if "healthy" not in pair[0].facts:
                return None
            at = stage(query.env_steps, config)
            by_stage[at].append(pair)
            answers[at].append(label.choice)
    finally:
        store.close()
    return [{"stage": name, **stage_row(pairs, choices)}
            for name, pairs, choices in zip(STAGES, by_stage, answers, strict=True) if pairs]


def arm_of(run_name: str) -> str:
    """The run's name without its seed: the runs of one arm of a sweep share it."""
    return re.sub(r"_s\d+$", "", run_name)


def _mean_of_defined(values: list[float]) -> float:
    """The mean of the values that are not nan (nan if none is): a seed with no decisive answer in
    a stage leaves that stage's agreement to the others."""
    defined = [v for v in values if not np.isnan(v)]
    return float(np.mean(defined)) if defined else float("nan")


def mean_over_seeds(rows: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    arms: dict[str, list[list[dict[str, Any]]]] = {}
    for name, stages in rows.items():
        arms.setdefault(arm_of(name), []).append(stages)
    out = {}
    for arm, runs in arms.items():
        stages = {}
        for name in STAGES:
            got = [r for stages_ in runs for r in stages_ if r["stage"] == name]
            if got:
                stages[name] = {k: _mean_of_defined([r[k] for r in got]) for k in got[0] if k != "stage"}
        out[arm] = {"seeds": len(runs), "stages": stages}
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = cli.new_parser("python -m experiments.queried", __doc__)
    p.add_argument("results", type=Path, help="results folder (holding runs/)")
    ns = p.parse_args(argv)
    if not (ns.results / "runs").is_dir():
        raise ConfigError(f"{ns.results} has no runs/ folder; pass the --out folder of a sweep")
    rows = {}
    for run in sorted((ns.results / "runs").iterdir()):
        if (run / "config.json").exists() and (got := run_rows(run)) is not None:
            rows[run.name] = got
    if not rows:
        raise ConfigError(f"no finished run with a labels.sqlite of a task that reports healthy under "
                          f"{ns.results / 'runs'} (a results folder copied into the repository keeps none)")
    out = ns.results / "queried.json"
    out.write_text(json.dumps({"runs": rows, "arms": mean_over_seeds(rows)}, indent=2, sort_keys=True) + "\n")
    for name, stages in rows.items():
        cells = "; ".join(f"{r['stage']} {100 * r['down_share']:.0f}% down ({100 * r['both_down']:.0f}% both)"
                          + (f" height {r['height']:.2f}" if "height" in r else "")
                          + (f" {100 * r['upside_down']:.0f}% upside down" if "upside_down" in r else "")
                          + (f", {100 * r['agrees_with_true_reward']:.0f}% of answers as the true reward"
                             if not np.isnan(r["agrees_with_true_reward"]) else "") for r in stages)
        print(f"{name}: {cells}")
    return 0


if __name__ == "__main__":
    cli.main_guard(main)()
